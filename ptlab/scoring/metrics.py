"""A task's metrics for one split, built from its kind's metric specs (ptlab/kinds/).

torchmetrics accumulate over batches and sync across devices; every method on a task is scored by
the same `TaskMetrics`, fed the same scorer outputs (what the kind's `evaluate` returns).
"""

from __future__ import annotations

from typing import Any, Dict

from torch import nn

from ptlab.kinds import TaskKind


class TaskMetrics(nn.Module):
    """`update` per batch, `compute` once per epoch, `reset` after."""

    def __init__(self, kind: TaskKind, lm_head: bool, local: bool = False):
        """`local`: compute on this process's updates only, never gathering across DDP ranks (a
        baseline that rank 0 scores alone, from data every rank holds, would wait for the others)."""
        super().__init__()
        specs = {name: kind.metrics[name] for name in kind.task.metrics}
        self.specs = {name: spec for name, spec in specs.items() if lm_head or not spec.lm_only}
        self.metrics = nn.ModuleDict({name: spec.build(kind.task) for name, spec in self.specs.items()})
        for metric in self.metrics.values() if local else ():
            metric.sync_on_compute = metric._to_sync = False  # torchmetrics' own switch, read by compute()

    def update(self, outputs: Dict[str, Any]) -> None:
        for name, metric in self.metrics.items():
            self.specs[name].update(metric, outputs)

    def compute(self) -> Dict[str, float]:
        """Each metric's number; a metric whose value is a breakdown (a dict, e.g. F1 per entity
        type) adds each part under its own name."""
        values: Dict[str, float] = {}
        for name, metric in self.metrics.items():
            value = self.specs[name].value(metric.compute())
            values.update(value if isinstance(value, dict) else {name: value})
        return values

    def reset(self) -> None:
        for metric in self.metrics.values():
            metric.reset()
