"""The LightningModule every method shares: a method (ptlab/methods/) only wraps the backbone.

Training, evaluation, optimisation and checkpoint contents live here once, and what a loss or a
score means is the task kind's (ptlab/kinds/), so methods differ in exactly one thing: which
parameters train.
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Tuple

import lightning as L
import torch
from transformers import get_scheduler

from ptlab.config.schema import RunConfig
from ptlab.errors import DivergedError
from ptlab.kinds import TaskKind
from ptlab.methods import Method
from ptlab.scoring.metrics import TaskMetrics
from ptlab.models import training_memory
from ptlab.models.family_reader import FamilyReader
from ptlab.run.rng_state import rng_states, set_rng_states
from ptlab.run.directory import RunDir


class MethodModule(L.LightningModule):
    """A backbone wrapped by a method, trained with the task kind's loss, scored by its scorer."""

    def __init__(self, run: RunConfig, kind: TaskKind, reader: FamilyReader, method: Method, backbone):
        super().__init__()
        self.run, self.kind, self.reader, self.method = run, kind, reader, method
        # from_pretrained returns eval mode, and Lightning keeps submodules' modes: without
        # this, dropout would stay off during training.
        if method.trains and run.model.gradient_checkpointing:
            training_memory.checkpoint_activations(backbone)
        self.model = method.wrap(backbone, reader).train()
        if method.trains:
            training_memory.train_in_fp32(self.model)  # a low-precision base's trained tensors
        # Checkpoints of parameter-efficient methods hold only what trains (the frozen backbone is
        # reloaded from its source); full fine-tuning must save every weight.
        self.strict_loading = method.saves_frozen_weights
        self.metrics = torch.nn.ModuleDict({s: TaskMetrics(kind, reader.has_lm_head) for s in ("val", "test")})
        self.predictions: Dict[str, List[Dict[str, Any]]] = {"val": [], "test": []}
        self.train_tokens = 0
        self.train_pad_tokens = 0  # padded positions trained on: the waste length grouping cuts
        self.train_seconds = 0.0
        self.batches_trained = 0  # the data position a resumed run continues from
        self._resume_rng: Optional[Dict[str, Any]] = None
        self.start_step = 0
        self.last_val: Optional[Tuple[int, Dict[str, float]]] = None  # (step, metrics)
        self._sharded = False  # configure_model runs for fit and again for test: shard once

    # --- parameter accounting ---
    def parameter_counts(self) -> Dict[str, Any]:
        if hasattr(self.model, "get_nb_trainable_parameters"):
            # peft: a trained copy of an encoder's head is counted once, not beside the original
            trainable, total = self.model.get_nb_trainable_parameters()
        else:
            trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
            total = sum(p.numel() for p in self.model.parameters())
        return {"trainable": trainable, "total": total, "trainable_fraction": trainable / total if total else 0.0}

    def trainable_names(self) -> set:
        return {f"model.{n}" for n, p in self.model.named_parameters() if p.requires_grad}

    # --- training ---
    def on_train_batch_start(self, batch, batch_idx):
        self._step_started = time.perf_counter()

    def training_step(self, batch, batch_idx):
        loss = self.method.training_loss(self.model, self.kind.loss(self.reader, self.model, batch))
        if not torch.isfinite(loss):
            last = RunDir(self.run.paths.output_dir).last_ckpt
            kept = f"{last} (the latest validation's) is kept" if last.exists() else "no checkpoint was saved yet"
            raise DivergedError(
                f"non-finite training loss {loss.item()} at step {self.global_step}; "
                f"the run stopped and {kept}. Try a lower method.lr."
            )
        tokens = int(batch["attention_mask"].sum())
        self.train_tokens += tokens
        self.train_pad_tokens += batch["attention_mask"].numel() - tokens
        # under DDP/FSDP the mean over ranks: the global batch's loss, what one process would log
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0], sync_dist=True)
        self.batches_trained += 1
        return loss

    @property
    def padding_fraction(self) -> Optional[float]:
        """Padded share of all positions trained so far (None before the first step)."""
        positions = self.train_tokens + self.train_pad_tokens
        return self.train_pad_tokens / positions if positions else None

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.train_seconds += time.perf_counter() - self._step_started

    def optimizer_step(self, *args, **kwargs):
        super().optimizer_step(*args, **kwargs)
        self.method.after_optimizer_step(self.model, self.global_step)

    def parameter_groups(self) -> List[Dict[str, Any]]:
        """AdamW groups of the trained parameters: no weight decay on biases and norm scales
        (the 1-D parameters)."""
        trained = [p for p in self.model.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in trained if p.ndim >= 2], "weight_decay": self.run.method.weight_decay},
            {"params": [p for p in trained if p.ndim < 2], "weight_decay": 0.0},
        ]
        return [g for g in groups if g["params"]]

    def configure_optimizers(self):
        cfg = self.run.method
        optimizer = torch.optim.AdamW(self.parameter_groups(), lr=cfg.lr)
        total = int(self.trainer.estimated_stepping_batches)
        scheduler = get_scheduler(
            cfg.schedule.value,
            optimizer,
            num_warmup_steps=int(cfg.warmup_ratio * total),
            num_training_steps=total,
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # --- sharding ---
    def configure_model(self):
        """Under Lightning's ModelParallelStrategy (conf/trainer/fsdp.yaml): torch's fully_shard
        (FSDP2) on each transformer block (HF's checkpointing unit), then on the whole model, over the
        data-parallel mesh. Under any other strategy there is no mesh and nothing to do."""
        if self.device_mesh is None or self._sharded:
            return
        from torch.distributed.fsdp import fully_shard
        from transformers.modeling_layers import GradientCheckpointingLayer

        mesh = self.device_mesh["data_parallel"]
        for module in self.model.modules():
            if isinstance(module, GradientCheckpointingLayer):
                fully_shard(module, mesh=mesh)
        fully_shard(self.model, mesh=mesh)
        self._sharded = True

    # --- evaluation: one scorer for every method ---
    def validation_step(self, batch, batch_idx):
        self._evaluate(batch, "val")

    def test_step(self, batch, batch_idx):
        self._evaluate(batch, "test")

    def _evaluate(self, batch, split: str) -> None:
        outputs, rows = self.kind.evaluate(self.reader, self.model, batch, self.run.decode)
        self.metrics[split].update(outputs)
        for row, index in zip(rows, batch.get("index", ())):  # batches are length-sorted (ptlab/data/
            row["index"] = index  # sampling.py): each row keeps its place in the split for _log_split
        self.predictions[split].extend(rows)

    def on_validation_epoch_start(self):
        self.predictions["val"] = []
        self.kind.begin_evaluation()

    def on_test_epoch_start(self):
        self.predictions["test"] = []
        self.kind.begin_evaluation()

    def on_validation_epoch_end(self):
        self._log_split("val")
        if self.padding_fraction is not None:  # a running share: each validation logs it (a
            # per-step log costs ~1 ms); under DDP, the mean of the ranks' shares
            self.log("train/padding_fraction", self.padding_fraction, sync_dist=True)

    def on_test_epoch_end(self):
        self._log_split("test")

    def _log_split(self, split: str) -> None:
        rows = self.predictions[split]
        if self.trainer.world_size > 1:  # each rank scored one shard: rank r holds r, r+w, ...
            shards: List[Any] = [None] * self.trainer.world_size
            torch.distributed.all_gather_object(shards, rows)
            rows = [row for shard in shards for row in shard]
        if all("index" in row for row in rows):  # back in split order, the index dropped: the
            rows.sort(key=lambda row: row["index"])  # predictions are as if scored in split order
            for row in rows:
                del row["index"]
        self.predictions[split] = rows
        values = self.metrics[split].compute()
        self.metrics[split].reset()
        if split == "val":
            self.last_val = (self.global_step, values)
        self.log_dict({f"{split}/{k}": v for k, v in values.items()}, sync_dist=True)

    # --- checkpoints ---
    def on_load_checkpoint(self, checkpoint):
        counters = checkpoint.get("ptlab_counters", {})  # a resumed run keeps counting
        self.train_tokens = counters.get("train_tokens", 0)
        self.train_pad_tokens = counters.get("train_pad_tokens", 0)
        self.train_seconds = counters.get("train_seconds", 0.0)
        self.batches_trained = counters.get("batches_trained", 0)
        self._resume_rng = checkpoint.get("ptlab_rng")
        if checkpoint.get("ptlab_method"):
            self.method.load_state(self.model, checkpoint["ptlab_method"])

    def on_train_start(self):
        self.start_step = self.global_step
        # Restored here, after everything that runs between loading and the first step, so
        # dropout draws the same masks as in an uninterrupted run.
        if self._resume_rng is not None:
            set_rng_states(self._resume_rng)
            self._resume_rng = None

    def on_save_checkpoint(self, checkpoint):
        checkpoint["ptlab_counters"] = {
            "train_tokens": self.train_tokens,
            "train_pad_tokens": self.train_pad_tokens,
            "train_seconds": self.train_seconds,
            "batches_trained": self.batches_trained,
        }
        checkpoint["ptlab_rng"] = rng_states()
        checkpoint["ptlab_method"] = self.method.state(self.model)
        if not self.method.saves_frozen_weights:
            keep = self.trainable_names()
            checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in keep}
