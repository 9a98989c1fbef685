"""A few training steps on a built run, and its loss on one batch: what the 'loss decreases' and
method tests share."""

from __future__ import annotations

import copy

import lightning as L
import torch

from ptlab.run.build import build_data, build_module
from ptlab.models.loading import load_model


def eval_loss(module, batch) -> float:
    """The kind's loss on `batch` with dropout off, leaving the model in training mode."""
    module.model.eval()
    with torch.no_grad():
        loss = float(module.kind.loss(module.reader, module.model, batch))
    module.model.train()
    return loss


def fit(module, loader, steps: int, precision: str = "32-true") -> L.Trainer:
    """`steps` optimizer steps on CPU at `precision`, nothing written."""
    trainer = L.Trainer(
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        precision=precision,
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


def trained(compose_run, model, method, steps=4, *overrides):
    """The run's module after `steps` steps (the run's length), its fresh backbone and one batch's inputs."""
    run = compose_run(
        f"model={model}",
        f"method={method}",
        "method.lr=3e-2",
        "data.k=8",
        "data.batch_size=8",
        f"trainer.max_steps={max(steps, 1)}",
        *overrides,
    )
    data = build_data(run)
    options = data.method.load_options()  # e.g. QLoRA: the base quantized as it loads
    backbone = load_model(run.model, run.paths.cache_dir, data.reader.head, data.kind.num_labels(), **options)
    fresh = copy.deepcopy(backbone)
    module = build_module(run, data, backbone)
    batch = next(iter(data.train_dataloader()))
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask")}
    if run.model.family.value == "seq2seq":
        inputs["decoder_input_ids"] = batch["labels"].clamp(min=0)
    if steps:
        fit(module, data.train_dataloader(), steps)
    return module, fresh, inputs
