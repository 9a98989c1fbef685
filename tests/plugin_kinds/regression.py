"""A regression task kind, for the tests of lower-is-better metrics: a number read from a text,
scored by mean squared error (lower is better, unbounded, so shown as it is, never x100).

This is the module a newcomer adds as ptlab/kinds/regression.py ("Adding a task kind" in the
README), here outside ptlab: tests/with_plugin_kinds.py puts this folder on the `ptlab.kinds`
package path, and ptlab discovers the kind as it discovers its own, no line of the core changed.
Encoders only: a one-output sequence-classification head trained on the squared error.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional

from ptlab.config.schema import Family
from ptlab.errors import DataError
from ptlab.kinds import Constant, Head, MetricSpec, TaskKind, most_frequent


def _mse(task):
    from torchmetrics import MeanSquaredError

    return MeanSquaredError()


class Regression(TaskKind):
    name = "regression"
    action = "predict a number"
    answer_columns = ("target",)
    metrics = {
        "mse": MetricSpec(
            "mse", _mse, lambda metric, out: metric.update(out["predicted"], out["gold"]),
            higher_is_better=False, high=math.inf,
        ),
    }  # fmt: skip

    def head(self, family: Family) -> Optional[Head]:
        return Head.sequence_classification if family == Family.encoder else None

    def num_labels(self) -> int:
        return 1

    def example(self, record: Dict[str, Any], where: str):
        from ptlab.data.example import Example

        column = self.task.columns["target"]
        try:
            value = float(record[column])
        except (TypeError, ValueError):
            raise DataError(f"{where}: column {column!r} holds {record[column]!r}, not a number") from None
        return Example(fields=self.fields(record, where), target=repr(value), where=where)

    def answer_text(self, ex) -> str:
        return ex.target

    def constant(self, evaluated, source) -> Constant:
        """The most frequent target, predicted for every text: the baseline ptlab/scoring/baselines.py scores."""
        import torch

        value, count = most_frequent([float(ex.target) for ex in source])
        gold = torch.tensor([float(ex.target) for ex in evaluated])
        return Constant(value, count, len(source), {"predicted": torch.full_like(gold, value), "gold": gold})

    def encode(self, reader, ex, train: bool) -> Dict[str, Any]:
        # answer_ids: the training loader counts prompt + answer tokens to batch by length; none here
        return {"prompt_ids": reader.encode_prompt(ex), "answer_ids": [], "target": float(ex.target)}

    def collate(self, reader, rows, train: bool) -> Dict[str, Any]:
        import torch

        prompts = [r["prompt_ids"] for r in rows]
        target = torch.tensor([r["target"] for r in rows], dtype=torch.float32)
        if not train:
            return {"prompt_ids": prompts, "prompt": [r["prompt"] for r in rows], "target": target}
        return {**reader.inputs(prompts), "target": target}

    def loss(self, reader, model, batch):
        import torch.nn.functional as F

        predicted = reader.logits(model, batch).float()[:, 0]
        return F.mse_loss(predicted, batch["target"].to(predicted.device))

    def evaluate(self, reader, model, batch, decode):
        predicted = reader.logits(model, reader.inputs(batch["prompt_ids"])).float()[:, 0]
        gold = batch["target"].to(predicted.device)
        rows = [
            {"prompt": prompt, "gold": g, "predicted": p, "example_scores": {"mse": (p - g) ** 2}}
            for prompt, g, p in zip(batch["prompt"], gold.tolist(), predicted.tolist())
        ]
        return {"predicted": predicted, "gold": gold}, rows
