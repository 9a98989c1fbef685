"""ptlab-report's baselines: beside each model x task, what a constant answer scores on the reported
split, and in each cell how many runs predicted one answer for everything or scored below it.

A run's record says it (results.json's `baselines`, ptlab/scoring/baselines.py); records written before it
(schema_version < 4) have none, and their rows and cells look as they did.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List

import pandas as pd

from ptlab.scoring.baselines import worse
from ptlab.report.scale import Scale

SPLITS = {"val": "validation", "val_final": "validation", "test": "test"}  # --split -> the evaluated split
COLUMN = "baseline: split majority (train majority)"
LEGEND = (
    f"`{COLUMN}`: what answering one thing for every example scores on the reported split, by the task's own "
    "metric: the split's own most frequent answer (class, choice position, text or tag; chosen by peeking at "
    "that split's labels, so the best a constant answer does on accuracy) and, in parentheses, the most frequent "
    "answer of the training examples a run read (chosen without peeking; none for zero-shot). `k collapsed`: k "
    "of the cell's runs gave one answer for every example (their predictions on the reported split; not known "
    "for val_final); `k below baseline`: k runs scored worse than the split majority, in the metric's direction."
)


def run_fields(record: Dict[str, Any], split: str, metric: str, higher_is_better: bool, value: float) -> dict:
    """A completed run's baselines of `metric` on the reported split, and its two checks."""
    found = (record.get("baselines") or {}).get(SPLITS[split]) or {}
    baseline, train = (_score(found.get(which), metric) for which in ("split_majority", "train_majority"))
    return {
        "baseline": baseline,
        "train_baseline": train,
        "collapsed": split != "val_final" and found.get("collapsed_to") is not None,
        "below": not (math.isnan(value) or math.isnan(baseline)) and worse(value, baseline, higher_is_better),
    }


def _score(constant: Any, metric: str) -> float:
    value = (constant or {}).get("metrics", {}).get(metric) if isinstance(constant, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def cell_fields(done: pd.DataFrame) -> dict:
    """A cell's counts of collapsed runs and of runs below the baseline (of its completed runs)."""
    scored = done[done["value"].notna()]
    return {"n_collapsed": int(scored["collapsed"].sum()), "n_below": int(scored["below"].sum())}


def row_fields(done: pd.DataFrame, scale: Scale) -> dict:
    """A model x task's baselines (means over its completed runs, which share the data) and their text."""
    split, train = (done[column].dropna() for column in ("baseline", "train_baseline"))
    text = _shown(split, scale) + (f" ({_shown(train, scale)})" if len(train) else "") if len(split) else ""
    return {"baseline": split.mean(), "train_baseline": train.mean(), "baseline_cell": text}


def _shown(values: pd.Series, scale: Scale) -> str:
    """One value, or the range where the runs were scored on different examples (other limits)."""
    low, high = scale(values.min()), scale(values.max())
    return low if low == high else f"{low}–{high}"


def counts(row: Any) -> List[tuple]:
    """The cell text's counts of collapsed runs and runs below baseline: (k, what)."""
    return [(getattr(row, "n_collapsed", 0), "collapsed"), (getattr(row, "n_below", 0), "below baseline")]
