"""Hyper-parameter search (conf/hparams_search/): what the sweepers need from ptlab.

Each method tunes its learning rate in its own range (method.lr_range / lr_grid in
conf/method/), so methods are compared at their own tuned settings. Optuna's study is kept in a
journal file (no database server), which jobs on several SLURM nodes can share through the file
system. The objective is the selection split's score; the reported split is never read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Dict, List, Optional

from omegaconf.errors import InterpolationResolutionError

from ptlab.run import library_output
from ptlab.errors import ConfigError


def journal_storage(path: str):
    """An Optuna JournalStorage in a file (made with its folder): a rerun continues the study.
    Built just before the study: from here on, Optuna's own log lines go to ptlab.log."""
    import optuna

    optuna.logging.disable_default_handler()
    library_output.hold_logger("optuna")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))


class SweepError(ConfigError, InterpolationResolutionError):
    """A search setting that cannot work, found by the resolver that reads it. Hydra resolves the
    sweeper's config before it builds the sampler (deprecation warnings) and the study (its
    journal file), so the sweep stops before either; OmegaConf passes this type on unwrapped."""


def lr_range(method: str, bounds: Any, n_trials: Any, n_jobs: Any) -> str:
    """`low, high` for the Optuna sweeper's log-scale `interval(...)`, with the study's budget
    checked too (hparams_search=optuna passes it): one bad value is one line naming its key."""
    if not bounds:
        raise SweepError(_nothing_to_tune(method, "method.lr_range=[low,high]"))
    for key, value in (("hydra.sweeper.n_trials", n_trials), ("hydra.sweeper.n_jobs", n_jobs)):
        if not _whole(value) or value < 1:
            raise SweepError(f"{key} must be a whole number >= 1, got {value!r}")
    shown = f"method.lr_range={_listed(bounds)}"
    numbers = _numbers(bounds)
    if numbers is None or len(numbers) != 2:
        raise SweepError(f"{shown} is not [low, high], two learning rates (method {method})")
    low, high = numbers
    if low <= 0:
        raise SweepError(f"{shown}: the learning rate is searched on a log scale, so low must be > 0")
    if low >= high:
        raise SweepError(f"{shown}: low must be below high")
    return f"{low!r}, {high!r}"


def lr_grid(method: str, grid: Any) -> str:
    """`a,b,c`: the basic sweeper's choice of the method's learning rates."""
    if not grid:
        raise SweepError(_nothing_to_tune(method, "method.lr_grid=[...]"))
    numbers = _numbers(grid)
    if numbers is None or min(numbers) <= 0:
        raise SweepError(f"method.lr_grid={_listed(grid)} is not a list of learning rates > 0 (method {method})")
    return ",".join(repr(lr) for lr in numbers)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _numbers(values: Any) -> Optional[List[float]]:
    """The finite numbers of a list, or None when it is not a list of numbers (strings, bools, NaN)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        return None
    return [float(v) for v in values]


def _listed(values: Any) -> str:
    """A value as the override that set it reads: `[0.01, 1e-05]`, not `ListConfig([...])`."""
    if isinstance(values, Sequence) and not isinstance(values, (str, bytes)):
        return f"[{', '.join(map(str, values))}]"
    return str(values)


def _nothing_to_tune(method: str, setting: str) -> str:
    return (
        f"hparams_search: method {method} has no learning rate to tune (it trains nothing, or its "
        f"config sets no range): set {setting} or leave hparams_search out"
    )


def direction(kind: str, metric: str) -> str:
    """`maximize` or `minimize`: the Optuna study's direction, the task's main metric's own (its kind's
    metric spec says; an MSE is minimized), for conf/hparams_search/optuna.yaml."""
    from ptlab.kinds import kind_class

    specs = kind_class(kind).metrics
    if metric not in specs:
        raise SweepError(f"task.main_metric={metric!r} is not a metric of a {kind} task; known: {list(specs)}")
    return "maximize" if specs[metric].higher_is_better else "minimize"


def objective(record: Optional[Dict[str, Any]], direction: str) -> float:
    """A trial's value for Optuna: the main metric on the selection split (metrics.val_best).

    A run that failed (its results.json says why) or does not apply scores the worst possible
    value in the study's `direction` (-inf when maximizing, +inf when minimizing), so the study
    records it and goes on: hydra-optuna-sweeper stops the whole study at a trial whose value
    Optuna refuses (NaN, None), and TPE then steers away from a diverging rate.
    """
    worst = -math.inf if str(direction).lower().endswith("maximize") else math.inf
    try:
        value = float(record["metrics"]["val_best"][record["main_metric"]])
    except (TypeError, KeyError, ValueError):
        return worst
    return worst if math.isnan(value) else value
