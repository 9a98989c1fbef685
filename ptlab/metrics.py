"""Task metrics, built from torchmetrics so they accumulate over batches and sync across devices.

Every method on a task is scored by the same `TaskMetrics`, from the same scorer outputs.
Classification metrics read the rank scores: `accuracy` and `macro_f1` the summed log-probability
of each verbalizer, `accuracy_norm` its per-token mean. Generation metrics are corpus-level and
multi-reference: SacreBLEU (13a tokenization, case-sensitive) and ROUGE-L F1 (best reference).
All values are in [0, 1].
"""

from __future__ import annotations

from typing import Dict, List

import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score
from torchmetrics.text import ROUGEScore, SacreBLEUScore

from ptlab.config import TaskConfig, TaskKind

# name (as in ptlab.config.METRIC_NAMES) -> (factory(num_classes), which rank score it reads)
CLASSIFICATION = {
    "accuracy": (lambda k: MulticlassAccuracy(k, average="micro"), "sum"),
    "accuracy_norm": (lambda k: MulticlassAccuracy(k, average="micro"), "mean"),
    "macro_f1": (lambda k: MulticlassF1Score(k, average="macro"), "sum"),
}
GENERATION = {
    "bleu": lambda: SacreBLEUScore(tokenize="13a"),
    "rouge_l": lambda: ROUGEScore(rouge_keys="rougeL", accumulate="best"),
}


class TaskMetrics(nn.Module):
    """The task's metrics for one split; `update` per batch, `compute` once per epoch."""

    def __init__(self, task: TaskConfig):
        super().__init__()
        self.kind = task.kind
        if task.kind == TaskKind.classification:
            k = len(task.labels)
            self.reads = {m: CLASSIFICATION[m][1] for m in task.metrics}
            self.metrics = nn.ModuleDict({m: CLASSIFICATION[m][0](k) for m in task.metrics})
        else:
            self.metrics = nn.ModuleDict({m: GENERATION[m]() for m in task.metrics})

    def update_classification(self, scores: Dict[str, torch.Tensor], gold: torch.Tensor) -> None:
        for name, metric in self.metrics.items():
            metric.update(scores[self.reads[name]].argmax(-1), gold)

    def update_generation(self, predictions: List[str], references: List[List[str]]) -> None:
        for metric in self.metrics.values():
            metric.update(predictions, references)

    def compute(self) -> Dict[str, float]:
        values = {}
        for name, metric in self.metrics.items():
            value = metric.compute()
            if isinstance(value, dict):
                value = value["rougeL_fmeasure"]
            values[name] = float(value)
        return values

    def reset(self) -> None:
        for metric in self.metrics.values():
            metric.reset()
