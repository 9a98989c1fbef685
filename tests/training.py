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
