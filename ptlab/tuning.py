"""Hyper-parameter search (conf/hparams_search/): what the sweepers need from ptlab.

Each method tunes its learning rate in its own range (method.lr_range / lr_grid in
conf/method/), so methods are compared at their own tuned settings. Optuna's study is kept in a
journal file (no database server), which jobs on several SLURM nodes can share through the file
system. The objective is the selection split's score; the reported split is never read.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Optional

from ptlab.errors import ConfigError


def journal_storage(path: str):
    """An Optuna JournalStorage in a file (made with its folder): a rerun continues the study."""
    import optuna

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))


def lr_range(method: str, bounds: Optional[List[float]]) -> str:
    """`low, high` for the Optuna sweeper's `interval(...)`; a method without a range is refused."""
    if not bounds:
        raise ConfigError(_nothing_to_tune(method, "method.lr_range=[low,high]"))
    return f"{float(bounds[0])!r}, {float(bounds[1])!r}"


def lr_grid(method: str, grid: Optional[List[float]]) -> str:
    """`a,b,c`: the basic sweeper's choice of the method's learning rates."""
    if not grid:
        raise ConfigError(_nothing_to_tune(method, "method.lr_grid=[...]"))
    return ",".join(repr(float(lr)) for lr in grid)


def _nothing_to_tune(method: str, setting: str) -> str:
    return (
        f"hparams_search: method {method} has no learning rate to tune (it trains nothing, or its "
        f"config sets no range): set {setting} or leave hparams_search out"
    )


def objective(record: Optional[Dict[str, Any]], direction: str) -> float:
    """A trial's value for Optuna: the main metric on the selection split (metrics.val_best).

    A run that failed (its results.json says why) or does not apply scores the worst possible
    value, so the study records it and goes on: hydra-optuna-sweeper stops the whole study at a
    trial whose value Optuna refuses (NaN, None), and TPE then steers away from a diverging rate.
    """
    worst = -math.inf if str(direction).lower().endswith("maximize") else math.inf
    try:
        value = float(record["metrics"]["val_best"][record["main_metric"]])
    except (TypeError, KeyError, ValueError):
        return worst
    return worst if math.isnan(value) else value
