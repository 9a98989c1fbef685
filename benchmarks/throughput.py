"""Training throughput of one method's module through three loops doing the same work.

Each loop trains the same model object on the same batches, in the same order, with AdamW and
gradient clipping at 1.0 (ptlab through its own DataModule loader, the others from the batches
that loader yields, pre-collated); each is timed over the steps after its warm-up, in non-padding
tokens per second. `rounds` rotates the loops' order and keeps each one's median, so a
drift in machine speed hits them alike.
"""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

import torch


def _tokens(batches: List[dict]) -> int:
    return sum(int(b["attention_mask"].sum()) for b in batches)


def ptlab_loop(module, data, cfg, batches: List[dict], warmup: int) -> float:
    """ptlab's own path: the Trainer `ptlab-train` builds (its callbacks, logger and progress
    bar; `cfg` turns validation off) running the method's `training_step` on batches from the
    task's DataModule (`batches` are that loader's first ones)."""
    import lightning as L

    from ptlab.run.preemption import SignalFlag
    from ptlab.run.build import build_trainer

    marks = {}

    class Clock(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if batch_idx == warmup:
                marks["start"] = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            marks["end"] = time.perf_counter()

    trainer = build_trainer(cfg, module.run, Path(cfg.paths.output_dir), SignalFlag(module.run.preemption))
    trainer.callbacks.append(Clock())
    trainer.fit(module, train_dataloaders=data.train_dataloader())
    module.trainer = None  # drop the fit's optimizer state before the next loop runs
    return _tokens(batches[warmup:]) / (marks["end"] - marks["start"])


def raw_loop(module, data, cfg, batches: List[dict], warmup: int) -> float:
    """The floor: loss, backward, clip, AdamW step, by hand (same loss function as ptlab)."""
    model, reader = module.model.train(), module.reader
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(module.parameter_groups(), lr=module.run.method.lr)
    start = None
    for i, batch in enumerate(batches):
        if i == warmup:
            start = time.perf_counter()
        module.kind.loss(reader, model, batch).backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return _tokens(batches[warmup:]) / (time.perf_counter() - start)


def hf_trainer_loop(module, data, cfg, batches: List[dict], warmup: int) -> float:
    """The usual alternative: a plain Hugging Face `Trainer` script over the same peft (or full)
    model, where the model computes its own loss from `labels` (logits at every position)."""
    from transformers import Trainer, TrainerCallback, TrainingArguments

    marks = {}

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == warmup:
                marks["start"] = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            marks["end"] = time.perf_counter()

    def as_hf(batch: dict) -> dict:  # an encoder's class index is `labels` to a HF model
        return {("labels" if k == "label" else k): v for k, v in batch.items()}

    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out,
            max_steps=len(batches),
            per_device_train_batch_size=1,
            learning_rate=module.run.method.lr,
            weight_decay=module.run.method.weight_decay,
            max_grad_norm=1.0,
            lr_scheduler_type="constant",
            optim="adamw_torch",
            train_sampling_strategy="sequential",
            logging_strategy="no",
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            dataloader_num_workers=0,
            disable_tqdm=True,
            remove_unused_columns=False,
        )
        trainer = Trainer(
            model=module.model.train(),
            args=args,
            train_dataset=[as_hf(b) for b in batches],
            data_collator=lambda items: items[0],
            callbacks=[Clock()],
        )
        trainer.train()
    return _tokens(batches[warmup:]) / (marks["end"] - marks["start"])


LOOPS: Dict[str, Callable] = {"ptlab": ptlab_loop, "raw": raw_loop, "hf_trainer": hf_trainer_loop}


def compare(module, data, cfg, steps: int, warmup: int, rounds: int) -> Dict[str, float]:
    """Median tokens/s of each loop over `rounds` runs, and ptlab's ratios. Each round starts
    with the next loop in turn, and memory is collected between loops, so neither position in
    the order nor a predecessor's leftovers favour one loop."""
    loader = iter(data.train_dataloader())
    batches = [next(loader) for _ in range(warmup + steps)]
    names = list(LOOPS)
    speeds = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            gc.collect()
            speeds[name].append(LOOPS[name](module, data, cfg, batches, warmup))
    result = {f"{name}_tokens_per_second": statistics.median(s) for name, s in speeds.items()}
    result["ptlab_vs_raw"] = result["ptlab_tokens_per_second"] / result["raw_tokens_per_second"]
    result["ptlab_vs_hf_trainer"] = result["ptlab_tokens_per_second"] / result["hf_trainer_tokens_per_second"]
    result["all_runs"] = speeds
    return result
