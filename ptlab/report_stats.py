"""ptlab-report's uncertainty: how sure a cell's mean is over seeds, and whether two methods differ
beyond the luck of which examples the reported split holds.

Seeds vary training; the examples vary the score too, and with a few hundred of them a point or two
is noise. So every method column of a model x task is compared with the best one and with zero-shot
by a paired bootstrap over the reported split's examples (both scored on the same examples), from
the per-example scores the kinds write into the prediction rows (`example_scores`). A metric that is
not a mean over examples (macro F1, corpus BLEU, entity F1) has none: its test is reported as n/a.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from ptlab.run_dir import RunDir

ALPHA = 0.05  # significance level of the marks, and 1 - the intervals' coverage
PREDICTIONS = {"test": "test", "val": "val"}  # --split -> whose predictions file matches its scores
ZERO_SHOT = "zero_shot"


def t_interval(values: Sequence[float]) -> Tuple[float, float]:
    """The 95 % Student-t confidence interval of the mean over seeds; (nan, nan) below two seeds."""
    from scipy.stats import t

    x = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if len(x) < 2:
        return math.nan, math.nan
    half = t.ppf(1 - ALPHA / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean() - half), float(x.mean() + half)


@dataclass(frozen=True)
class Bootstrap:
    delta: float  # mean(a) - mean(b)
    low: float  # its 95 % percentile interval
    high: float
    p: float  # two-sided: how often a resampled delta is as far from the observed one as 0 is
    n: int  # examples
    se: float  # the resampled deltas' std: the standard error of delta

    @property
    def significant(self) -> bool:
        return self.p < ALPHA


def paired_bootstrap(a: Sequence[float], b: Sequence[float], resamples: int = 10_000, seed: int = 0) -> Bootstrap:
    """Resample the examples (with replacement, the same draw for both) `resamples` times.

    The p-value shifts the resampled deltas to the null (Efron & Tibshirani's test): the share of
    them at least |delta| from the observed delta, counting the observed one, so p > 0 always and
    identical scores give p = 1. Deterministic for a given seed; chunked to bound the memory.
    """
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if diff.ndim != 1 or len(diff) == 0 or len(a) != len(b):
        raise ValueError("paired_bootstrap needs two equally long, non-empty 1-D score arrays")
    n, rng = len(diff), np.random.default_rng(seed)
    chunk = max(1, 4_000_000 // n)
    means = np.concatenate(
        [diff[rng.integers(0, n, size=(min(chunk, resamples - i), n))].mean(1) for i in range(0, resamples, chunk)]
    )
    delta = float(diff.mean())
    far = np.abs(means - delta) >= abs(delta) - 1e-12
    low, high = np.percentile(means, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
    p = float((far.sum() + 1) / (resamples + 1))
    return Bootstrap(delta, float(low), float(high), p, n, float(means.std(ddof=1)))


# --- per-example scores of a table column: each seed's prediction rows, averaged over seeds
Examples = Tuple[List[Tuple[str, str]], np.ndarray]  # (prompt, gold) per example, mean score per example


def column_scores(cell: pd.DataFrame, split: str, metric: str) -> Union[Examples, str]:
    """A column's per-example `metric` averaged over its completed seeds, or why there is none."""
    if split not in PREDICTIONS:
        return f"predictions_val.jsonl holds the selected checkpoint's predictions, not those of --split {split}"
    done = cell[(cell["state"] == "completed") & cell["value"].notna()]
    ids: Optional[List[Tuple[str, str]]] = None
    scores = []
    for path in sorted(done["file"]):
        read = _read(RunDir(Path(path).parent).predictions(PREDICTIONS[split]), metric)
        if isinstance(read, str):
            return read
        if ids is not None and read[0] != ids:
            return f"its seeds were evaluated on different examples ({Path(path).parent})"
        ids = read[0]
        scores.append(read[1])
    if ids is None:
        return "no completed run"
    return ids, np.mean(scores, axis=0)


def _read(path: Path, metric: str) -> Union[Examples, str]:
    if not path.is_file():
        return f"no {path.name} in {path.parent}"
    ids, scores = [], []
    try:
        for line in path.read_text().splitlines():
            row = json.loads(line)
            value = (row.get("example_scores") or {}).get(metric)
            if not isinstance(value, (int, float)):
                return f"no per-example {metric} in {path} (a metric that is not a mean over examples, or an older run)"
            ids.append((str(row.get("prompt")), json.dumps(row.get("gold"))))
            scores.append(float(value))
    except (OSError, ValueError, AttributeError) as err:
        return f"{path} cannot be read ({err})"
    return (ids, np.asarray(scores)) if ids else f"{path} is empty"


def compare(a: Union[Examples, str], b: Union[Examples, str], name_b: str) -> Union[Bootstrap, str]:
    """Δ = a - b by paired bootstrap, or why the two columns cannot be paired."""
    if isinstance(a, str):
        return a
    if isinstance(b, str):
        return f"{name_b}: {b}"
    if len(a[0]) != len(b[0]):
        return f"{len(a[0])} examples vs {len(b[0])} in {name_b}: not the same examples"
    if a[0] != b[0]:
        first = next(i for i, (x, y) in enumerate(zip(a[0], b[0])) if x != y)
        return f"example {first} differs from {name_b}'s (prompt or gold): another template or data, not paired"
    return paired_bootstrap(a[1], b[1])


def significance(table: pd.DataFrame, runs: pd.DataFrame, split: str) -> pd.DataFrame:
    """Per model x task x column of `table` (filled cells only): Δ vs the best column (highest mean)
    and vs zero-shot, each a Bootstrap or the reason it is n/a; `best` and `zero_shot` name them."""
    rows = []
    for (model, task), cells in table[table["n"] > 0].groupby(["model", "task"], sort=False):
        here = runs[(runs["model"] == model) & (runs["task"] == task)]
        metric = cells["metric"].iloc[0]
        scores = {c: column_scores(here[here["column"] == c], split, metric) for c in cells["method"]}
        best = cells.loc[cells["mean"].idxmax(), "method"]
        zero = _zero_shot(cells, runs)
        for column in cells["method"]:
            rows.append(
                {
                    "model": model,
                    "task": task,
                    "method": column,
                    "best": best,
                    "zero_shot": zero,
                    "vs_best": None if column == best else compare(scores[column], scores[best], best),
                    "vs_zero_shot": None if zero in (None, column) else compare(scores[column], scores[zero], zero),
                }
            )
    return pd.DataFrame(rows, columns=["model", "task", "method", "best", "zero_shot", "vs_best", "vs_zero_shot"])


def _zero_shot(cells: pd.DataFrame, runs: pd.DataFrame) -> Optional[str]:
    """The zero-shot column to compare with: plain `zero_shot` if it ran, else its best variant."""
    method_of = dict(zip(runs["column"], runs["method"]))
    zero = cells[cells["method"].map(method_of) == ZERO_SHOT]
    if zero.empty:
        return None
    plain = zero[zero["method"] == ZERO_SHOT]
    return (plain if len(plain) else zero).sort_values("mean", ascending=False)["method"].iloc[0]


def significance_columns(sig: pd.DataFrame) -> pd.DataFrame:
    """The tests as numbers for report.csv, per model x task x column (NaN where untested or none)."""
    rows = []
    for r in sig.itertuples():
        row = {"model": r.model, "task": r.task, "method": r.method}
        for name, test in (("best", r.vs_best), ("zero_shot", r.vs_zero_shot)):
            tested = isinstance(test, Bootstrap)
            for field in ("delta", "low", "high", "p"):
                row[f"{field}_vs_{name}"] = getattr(test, field) if tested else math.nan
            row[f"untested_vs_{name}"] = test if isinstance(test, str) else ""
        rows.append(row)
    return pd.DataFrame(rows)


def marks(sig: pd.DataFrame) -> Dict[Tuple[str, str, str], str]:
    """(model, task, column) -> the main table's mark: `≈` where the column does not differ from
    the best column significantly; nothing for the best, a significant or an untested difference."""
    return {
        (r.model, r.task, r.method): " ≈"
        for r in sig.itertuples()
        if isinstance(r.vs_best, Bootstrap) and not r.vs_best.significant
    }


# --- tuned: one configuration per method, chosen on validation


def tuned(runs: pd.DataFrame) -> pd.DataFrame:
    """Per model x task x method (its `base` column), the variant with the highest mean validation
    score (`select`, i.e. metrics.val_best, whatever --split reports) over the seeds every variant
    of it completed (all its seeds where they share none): tuning on seed 0 and then running the
    pick with more seeds must not let the pick's other seeds decide. Ties keep the first in table
    order. Empty when no method ran more than one variant."""
    done = runs[(runs["state"] == "completed") & runs["select"].notna()]
    if not (runs.groupby(["model", "task", "base"])["column"].nunique() > 1).any():
        return pd.DataFrame(columns=["model", "task", "base", "column", "variant", "select", "variants"])
    group = ["model", "task", "base"]
    shared = done.groupby(group)[["column", "seed"]].apply(_shared_seeds).rename("shared").reset_index()
    done = done.merge(shared, on=group)
    done = done[[seed in seeds or not seeds for seed, seeds in zip(done["seed"], done["shared"])]]
    means = done.groupby(["model", "task", "base", "column", "variant"], sort=False)["select"].mean()
    means = means.reset_index().merge(runs[["column", "rank"]].drop_duplicates("column"), on="column")
    means = means.sort_values(["model", "task", "rank"], kind="stable")
    counts = runs.groupby(["model", "task", "base"])["column"].nunique().rename("variants").reset_index()
    picked = means.loc[means.groupby(["model", "task", "base"], sort=False)["select"].idxmax()]
    return picked.merge(counts, on=["model", "task", "base"]).sort_values(["model", "task", "rank"])


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
