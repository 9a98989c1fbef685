"""A few training steps on a built run, and its loss on one batch: what the 'loss decreases' tests share."""

from __future__ import annotations

import lightning as L
import torch


def eval_loss(module, batch) -> float:
    """The kind's loss on `batch` with dropout off, leaving the model in training mode."""
    module.model.eval()
    with torch.no_grad():
        loss = float(module.kind.loss(module.reader, module.model, batch))
    module.model.train()
    return loss


def fit(module, loader, steps: int) -> L.Trainer:
    """`steps` optimizer steps on CPU, nothing written."""
    trainer = L.Trainer(
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, train_dataloaders=loader)
    return trainer


def trained_methods(model: str) -> dict:
    """Every trained method in the registry that applies to `model`, with a learning rate that
    moves a tiny model in about ten steps (one that trains every weight needs a tenth of it)."""
    from conf_files import model_config
    from ptlab.methods import registry

    return {
        name: 3e-2 if m.trained_parameters else 3e-3
        for name, m in sorted(registry().items())
        if m.trains and not m.not_applicable_to(model_config(model))
    }
