"""What a metric's numbers mean in ptlab-report: which way is better, and on what scale they are shown.

Both come from the metric's spec in the run's task kind (config.yaml's `task.kind`; MetricSpec's
`higher_is_better`, `low`, `high`), the spec the best-checkpoint rule already reads: every pick the
report makes (the reference column, the tuned pick, the best template, the Pareto front) goes the
metric's way, and a metric bounded in [0, 1] is shown x100 (accuracy 0.853 as 85.3) while any other
is shown as it is (an MSE of 11.5 as 11.5, never 1150.0). A run dir whose config names no kind
(written by hand, or by hand-made tests) reads as every shipped metric does: higher is better, in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional, Tuple, Union

import pandas as pd

from ptlab.errors import PtlabError
from ptlab.run.directory import RunDir


@dataclass(frozen=True)
class Scale:
    """How one task's metric is read and shown: its direction, its values times `factor` (100 for
    a metric in [0, 1], else 1), to `decimals` places."""

    higher_is_better: bool = True
    factor: float = 100.0
    decimals: int = 1

    def __call__(self, value: float, signed: bool = False) -> str:
        return format(self.factor * value, f"{'+' if signed else ''}.{self.decimals}f")

    @classmethod
    def of(cls, row: Any) -> "Scale":
        """The scale a summary table's row carries (cells.summarize)."""
        return cls(bool(row.higher_is_better), float(row.factor), int(row.decimals))

    @property
    def unit(self) -> str:
        """What the shown numbers are, after the metric's name."""
        return " ×100" if self.factor == 100 else ""

    @property
    def named(self) -> str:
        """After the metric's name on a plot's axis: its unit, and its direction where lower is better."""
        return self.unit + ("" if self.higher_is_better else ", lower is better")


def task_label(task: str, metric: str, scale: Scale) -> str:
    """A table's `task (metric)` cell; it says so where lower is better."""
    return f"{task} ({metric}{'' if scale.higher_is_better else ', lower is better'})"


@lru_cache(maxsize=None)
def run_kind(run_dir: Path) -> Union[type, str]:
    """The task kind that wrote a run (its config.yaml's task.kind): TaskKind where it names none;
    why not, where it names a kind this ptlab does not know."""
    import yaml

    from ptlab.kinds import TaskKind, kind_class

    run = RunDir(run_dir)
    try:
        name = ((yaml.safe_load(run.config.read_text()) or {}).get("task") or {}).get("kind")
    except (OSError, yaml.YAMLError, AttributeError):
        return TaskKind
    try:
        return kind_class(name) if name else TaskKind
    except PtlabError as err:
        return f"{run.config}: {err}"


def meaning(run_dir: Path, metric: str) -> Union[Tuple[bool, float], str]:
    """(higher is better, factor) of `metric` in a run; why not known, where its kind is unknown."""
    kind = run_kind(run_dir)
    if isinstance(kind, str):
        return f"{kind}; so whether a higher {metric} is better, and its scale, are unknown"
    spec = kind.metrics.get(metric)  # None: a part of a metric (an F1 per entity type), in [0, 1]
    if spec is None:
        return True, 100.0
    return spec.higher_is_better, 100.0 if (spec.low, spec.high) == (0.0, 1.0) else 1.0


def scale_of(runs: pd.DataFrame, task: str) -> Scale:
    """How `task`'s metric is read and shown (one way per task: check_metrics), to as many
    places as give its largest value 3 significant digits, at least one (x100 metrics: one)."""
    done = runs[(runs["task"] == task) & runs["metric"].notna()]
    if done.empty:
        return Scale()
    factor = float(done["factor"].iloc[0])
    largest = factor * pd.concat([done["value"], done["select"]]).abs().max()
    if factor == 100 or math.isnan(largest) or largest == 0:
        return Scale(bool(done["higher_is_better"].iloc[0]), factor)
    decimals = min(max(1, 2 - math.floor(math.log10(largest))), 6)
    return Scale(bool(done["higher_is_better"].iloc[0]), factor, decimals)


def check_metrics(runs: pd.DataFrame, split: str, metric: Optional[str]) -> None:
    """One metric per task, read one way (its direction and scale), and a --metric that some run
    actually has."""
    for task, done in runs.dropna(subset=["metric"]).groupby("task"):
        names = done["metric"].unique()
        if len(names) > 1:
            raise PtlabError(
                f"runs of task {task} disagree on the main metric ({', '.join(sorted(names))}); "
                f"choose one with --metric"
            )
        if len(done[["higher_is_better", "factor"]].drop_duplicates()) > 1:
            raise PtlabError(
                f"runs of task {task} disagree on what {names[0]} means (their task kinds differ in its "
                f"direction or range): {', '.join(sorted(map(str, done['file'].map(lambda f: f.parent))))}"
            )
    available = sorted(set().union(*runs["available"]))
    if metric and available and metric not in available:
        raise PtlabError(f"metric {metric!r} is in no run's {split} metrics (they have {', '.join(available)})")
