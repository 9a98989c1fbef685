"""ptlab-report's uncertainty over seeds and its tuned picks: a cell's Student-t interval, and per
method the configuration chosen on validation, reported over fresh seeds only.

The comparisons between columns are in compare.py (which pairs) and seeds.py (the
seed-aware test); `paired_bootstrap` is the examples-only test on two score arrays.
"""

from __future__ import annotations

import math
from typing import List, Sequence, Tuple

import numpy as np
import pandas as pd

from ptlab.scoring.example_stats import mean_of
from ptlab.report.seeds import ALPHA, RESAMPLES, Bootstrap, Column, examples_only, resample


def t_interval(values: Sequence[float]) -> Tuple[float, float]:
    """The 95 % Student-t confidence interval of the mean over seeds; (nan, nan) below two seeds."""
    from scipy.stats import t

    x = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if len(x) < 2:
        return math.nan, math.nan
    half = t.ppf(1 - ALPHA / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean() - half), float(x.mean() + half)


def paired_bootstrap(a: Sequence[float], b: Sequence[float], resamples: int = RESAMPLES, seed: int = 0) -> Bootstrap:
    """The examples-only paired bootstrap of two per-example score arrays (one seed each, or each
    example's score averaged over seeds): conditional on the trained models (seeds.py)."""
    if np.ndim(a) != 1 or len(a) == 0 or len(a) != len(b):
        raise ValueError("paired_bootstrap needs two equally long, non-empty 1-D score arrays")
    ids = tuple(map(str, range(len(a))))
    columns = [Column(stats.per_row[None], stats.value, ids) for stats in map(mean_of, (a, b))]
    draws = resample(columns, resamples, seed)
    delta = float(np.mean(a) - np.mean(b))
    return examples_only(delta, draws[0][:, 0] - draws[1][:, 0], len(a))


# --- tuned: one configuration per method, chosen on validation


def tuned(runs: pd.DataFrame) -> pd.DataFrame:
    """Per model x task x method (its `base` column), the variant with the best mean validation
    score (`select`, i.e. metrics.val_best, whatever --split reports: the highest, or the lowest for a
    lower-is-better metric such as an MSE) over the seeds every variant of it completed (all its
    seeds where they share none): tuning on seed 0 and then running the pick with more seeds must
    not let the pick's other seeds decide. Ties keep the first in table order. Empty when no method
    ran more than one variant."""
    done = runs[(runs["state"] == "completed") & runs["select"].notna()]
    if done.empty or not (runs.groupby(["model", "task", "base"])["column"].nunique() > 1).any():
        # no rival variants, or none with a validation score for this metric (a metric only the
        # test split records): nothing was chosen, so every run is reported
        return pd.DataFrame(
            columns=["model", "task", "base", "column", "variant", "select", "tuning_seeds", "variants"]
        )
    group = ["model", "task", "base"]
    shared = done.groupby(group)[["column", "seed"]].apply(_shared_seeds).rename("shared").reset_index()
    done = done.merge(shared, on=group)
    done = done[[seed in seeds or not seeds for seed, seeds in zip(done["seed"], done["shared"])]]
    means = done.groupby(["model", "task", "base", "column", "variant"], sort=False).agg(
        select=("select", "mean"),
        tuning_seeds=("seed", lambda seeds: tuple(sorted(seeds))),
        higher_is_better=("higher_is_better", "first"),
    )
    means = means.reset_index().merge(runs[["column", "rank"]].drop_duplicates("column"), on="column")
    means = means.sort_values(["model", "task", "rank"], kind="stable")
    counts = runs.groupby(["model", "task", "base"])["column"].nunique().rename("variants").reset_index()
    better = means["select"].where(means["higher_is_better"].astype(bool), -means["select"])
    picked = means.loc[better.groupby([means["model"], means["task"], means["base"]], sort=False).idxmax()]
    picked = picked.merge(counts, on=["model", "task", "base"]).sort_values(["model", "task", "rank"])
    picked["tuning_seeds"] = [seeds if n > 1 else () for seeds, n in zip(picked["tuning_seeds"], picked["variants"])]
    return picked


def tuning_runs(runs: pd.DataFrame, picks: pd.DataFrame) -> pd.Series:
    """Which runs are a pick's tuning seeds, the seeds whose validation scores chose it among its
    method's variants (none where it had no rival): on them the pick is the best of several tries,
    and its reported score shares that luck, so the tuned table reports its other seeds only."""
    used = {
        (m, t, c): set(seeds)
        for m, t, c, seeds in zip(*(picks[k] for k in ("model", "task", "column", "tuning_seeds")))
    }
    return pd.Series(
        [
            seed in used.get((model, task, column), ())
            for model, task, column, seed in zip(runs["model"], runs["task"], runs["column"], runs["seed"])
        ],
        index=runs.index,
        dtype=bool,
    )


def only_picks(runs: pd.DataFrame, picks: pd.DataFrame) -> pd.DataFrame:
    """The runs of each method's chosen configuration (every run of a method with no pick): one
    point per method, as a comparison at tuned settings shows it, not one per rate tried."""
    if picks.empty:
        return runs
    chosen = set(zip(picks["model"], picks["task"], picks["column"]))
    tuned_methods = set(zip(picks["model"], picks["task"], picks["base"]))
    keep = [
        (model, task, base) not in tuned_methods or (model, task, column) in chosen
        for model, task, base, column in zip(runs["model"], runs["task"], runs["base"], runs["column"])
    ]
    return runs[keep]


def fresh_picks(runs: pd.DataFrame, picks: pd.DataFrame) -> pd.DataFrame:
    """What the tuned comparison reads: each method at its pick, over the seeds that did not choose
    it (`tuning_runs`), as the tuned table's cells are."""
    return only_picks(runs[~tuning_runs(runs, picks)], picks)


def _shared_seeds(runs: pd.DataFrame) -> frozenset:
    """The seeds that every variant (column) of one method completed."""
    return frozenset.intersection(*(frozenset(seeds) for _, seeds in runs.groupby("column")["seed"]))


def unpicked(runs: pd.DataFrame, picks: pd.DataFrame) -> List[str]:
    """The methods with several variants that the tuned table has no pick for, and why."""
    counts = runs.groupby(["model", "task", "base"], sort=True)["column"].nunique()
    chosen = set(zip(picks["model"], picks["task"], picks["base"]))
    return [
        f"{model}/{task}/{base}: no pick among its {n} variants (no completed run with a validation score)"
        for (model, task, base), n in counts.items()
        if (model, task, base) not in chosen
    ]
