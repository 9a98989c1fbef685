"""ptlab-report's test between two methods: one that counts training variance (seeds) as well as the
luck of which examples the reported split holds.

Why two levels. A method's score varies with its training seed and with the examples it is scored
on. A bootstrap over the examples alone, of each column's score averaged over its seeds, is
conditional on the few models that happened to be trained: with three seeds that differ by 10
points it still says p < 0.001 for a gap one more seed could close. So the test here is a two-level
(hierarchical) procedure for a crossed seeds x examples design, each level resampled or estimated
where it can be:

- Examples (paired): one bootstrap draw of the examples, the same for both columns and for every
  seed (Koehn 2004). On each resample every seed's metric is *recomputed* from the summed
  per-example statistics (`ptlab.scoring.example_stats`: a corpus BLEU, an entity F1, a macro F1 as much
  as a mean), then averaged over the column's seeds. The variance of the difference over the
  resamples, E, is the examples' share.
- Seeds (within each method, independently): the between-seed variance of the per-seed scores,
  s^2 / S. It also holds the examples' seed-to-seed noise, which E already counts once; that part,
  e = (mean over seeds of each seed's resampled variance - the seed mean's) / (S - 1), is taken
  off, and the rest, T = max(s^2/S - e, 0), is the training share. This is the textbook estimate of
  a grand mean's variance in a crossed design, (MS_seeds + MS_examples - MS_residual) / (n S),
  with the residual read off the same bootstrap draws, so it holds for corpus metrics too.
- Delta = the difference of the columns' mean over seeds (what the cells show); SE^2 = T_a + T_b
  + E; the interval and p are Student t with Satterthwaite's degrees of freedom for that sum of
  mean squares (s^2/S with S - 1 df, E with n - 1; never fewer than the fewest seed df in it). With
  one seed a column has no T: the test then covers the examples only, and says so (`covers_training`).

Why not resample the seeds as well: a percentile bootstrap of 2-5 seed values has no t tails and
shrinks their variance by (S-1)/S (it under-covers), and adding its variance to E counts the
seed-to-seed example noise twice. Simulated with 3 seeds a side, that literal two-level bootstrap
rejected a true null 7-16 % of the time when seeds differ by a few points, and 0.5 % when they do
not; the procedure here stays within [0.03, 0.07] (tests/test_report_seeds.py: 3 vs 5 seeds, 150
examples, seeds ~6 points apart), where the examples-only bootstrap rejects 25 %. It is
conservative (about 0.02-0.03) when seeds differ by no more than the examples' noise: a variance
component from 3 seeds is uncertain, and the t tails say so. Equivalence is two one-sided tests
(TOST) against +-margin with the same SE and df. The examples-only bootstrap is kept as a secondary
column (`examples`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

ALPHA = 0.05  # significance level of the verdicts, and 1 - the intervals' coverage
RESAMPLES = 10_000  # examples-only p to 1e-4; the SE needs far fewer
SEED = 0  # every draw is deterministic


@dataclass(frozen=True)
class Column:
    """One table column on one model x task: per seed, per example statistics of its metric."""

    stats: np.ndarray  # (seeds, examples, k)
    value: Callable[[np.ndarray], np.ndarray]  # (m, k) sums -> (m,) metric values
    ids: Tuple[str, ...]  # each example's identity (prompt and gold): what pairs two columns
    higher_is_better: bool = True
    unit: float = 0.01  # one point on the metric's scale (a margin is given in points)

    @property
    def per_seed(self) -> np.ndarray:
        """Each seed's metric on the whole split (what its results.json reports)."""
        return self.value(self.stats.sum(1))


@dataclass(frozen=True)
class Bootstrap:
    """The examples-only paired bootstrap: conditional on the trained models."""

    delta: float  # mean(a) - mean(b)
    low: float  # its 95 % percentile interval
    high: float
    p: float  # two-sided: how often a resampled delta is as far from the observed one as 0 is
    n: int  # examples
    se: float  # the resampled deltas' std: the standard error of delta

    @property
    def significant(self) -> bool:
        return self.p < ALPHA


def examples_only(delta: float, draws: np.ndarray, n: int) -> Bootstrap:
    """Percentile interval and Efron & Tibshirani's shifted p (the observed delta counted, so p > 0
    and identical columns give p = 1) from the resampled deltas."""
    far = np.abs(draws - delta) >= abs(delta) - 1e-12
    low, high = np.percentile(draws, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
    p = float((far.sum() + 1) / (len(draws) + 1))
    return Bootstrap(float(delta), float(low), float(high), p, n, float(draws.std(ddof=1)))


@dataclass(frozen=True)
class Comparison:
    """Column a against column b, seeds and examples counted."""

    delta: float
    low: float  # 95 % interval: delta +- t(df) SE
    high: float
    p: float  # two-sided, raw
    se: float
    df: float
    margin: float  # the equivalence margin, on the metric's scale
    p_equivalent: float  # TOST, raw: both one-sided nulls |delta| >= margin rejected
    seeds: Tuple[int, int]
    n: int
    examples: Bootstrap  # the secondary, examples-only test
    higher_is_better: bool = True
    p_holm: float = field(default=math.nan)  # adjusted across the comparisons of a row
    p_equivalent_holm: float = field(default=math.nan)

    @property
    def covers_training(self) -> bool:
        """Whether both columns have the seeds to estimate training variance."""
        return min(self.seeds) > 1

    @property
    def verdict(self) -> str:
        """better / worse (Holm-adjusted p < ALPHA), equivalent (TOST, Holm-adjusted), or inconclusive."""
        p, p_eq = _or(self.p_holm, self.p), _or(self.p_equivalent_holm, self.p_equivalent)
        if p < ALPHA:
            return "better" if (self.delta > 0) == self.higher_is_better else "worse"
        return "equivalent" if p_eq < ALPHA else "inconclusive"


def _or(value: float, default: float) -> float:
    return default if math.isnan(value) else value


def resample(columns: Sequence[Column], resamples: int = RESAMPLES, seed: int = SEED) -> List[np.ndarray]:
    """Each column's per-seed metric recomputed on `resamples` bootstrap draws of the examples, the
    same draws for every column (they must share their examples): (resamples, seeds) each.
    Chunked to bound memory."""
    n = len(columns[0].ids)
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // n)
    flat = [c.stats.transpose(1, 0, 2).reshape(n, -1) for c in columns]  # (examples, seeds * k): one matmul
    out = [np.empty((resamples, c.stats.shape[0])) for c in columns]
    for start in range(0, resamples, chunk):
        m = min(chunk, resamples - start)
        draws = rng.integers(0, n, size=(m, n)) + n * np.arange(m)[:, None]
        weights = np.bincount(draws.ravel(), minlength=m * n).reshape(m, n).astype(float)  # times each is drawn
        for column, stats, values in zip(columns, flat, out):
            sums = (weights @ stats).reshape(-1, column.stats.shape[2])  # (m * seeds, k)
            values[start : start + m] = column.value(sums).reshape(m, -1)
    return out


def _training(per_seed: np.ndarray, resampled: np.ndarray) -> Tuple[float, float, float, int]:
    """(T, s^2/S, e, S - 1) of one column; zeros for one seed."""
    seeds = len(per_seed)
    if seeds < 2:
        return 0.0, 0.0, 0.0, 0
    between = float(per_seed.var(ddof=1)) / seeds
    noise = float(resampled.var(0, ddof=1).mean() - resampled.mean(1).var(ddof=1)) / (seeds - 1)
    return max(between - noise, 0.0), between, noise, seeds - 1


def compare(a: Column, b: Column, resampled_a: np.ndarray, resampled_b: np.ndarray, margin: float) -> Comparison:
    """a - b from the two columns and their draws from `resample` (see the module's docstring)."""
    from scipy.special import stdtr, stdtrit  # Student t's cdf and quantile: ufuncs, no per-call overhead

    n = len(a.ids)
    delta = float(a.per_seed.mean() - b.per_seed.mean())
    draws = resampled_a.mean(1) - resampled_b.mean(1)
    examples = examples_only(delta, draws, n)
    total = examples.se**2
    den = total**2 / max(n - 1, 1)  # Satterthwaite: each mean square's square over its df
    fewest = max(n - 1, 1)
    for column, resampled in ((a, resampled_a), (b, resampled_b)):
        share, between, noise, df = _training(column.per_seed, resampled)
        total += share
        if df:
            den += between**2 / df + noise**2 / (df * max(n - 1, 1))
            fewest = min(fewest, df)
    se = math.sqrt(total)
    # A difference of mean squares can drive Satterthwaite's df towards 0 (seeds that differ by no
    # more than the examples' noise); never below the fewest df of a share that is in the sum.
    df = max(total**2 / den, fewest) if den > 0 else math.inf
    if se > 0:
        half = float(stdtrit(df, 1 - ALPHA / 2)) * se
        p = float(2 * stdtr(df, -abs(delta) / se))
        p_eq = float(max(stdtr(df, -(delta + margin) / se), stdtr(df, (delta - margin) / se)))
    else:  # no variance at all (identical columns, or constant scores)
        half, p, p_eq = 0.0, float(delta == 0), float(abs(delta) >= margin)
    return Comparison(
        delta, delta - half, delta + half, p, se, df, margin, p_eq, (len(a.per_seed), len(b.per_seed)), n, examples,
        a.higher_is_better,
    )  # fmt: skip


def holm(p: Sequence[float]) -> List[float]:
    """Holm's step-down adjustment (statsmodels' multipletests when installed)."""
    if not len(p):
        return []
    try:
        from statsmodels.stats.multitest import multipletests
    except ImportError:
        order = np.argsort(p, kind="stable")
        steps = np.asarray(p, dtype=float)[order] * (len(p) - np.arange(len(p)))
        adjusted = np.empty(len(p))
        adjusted[order] = np.minimum(np.maximum.accumulate(steps), 1.0)
        return adjusted.tolist()
    return multipletests(p, method="holm")[1].tolist()


def adjusted(tests: Sequence[Optional[object]]) -> List[Optional[object]]:
    """The Comparisons among `tests` with Holm-adjusted p and TOST p (each its own family); the rest as they are."""
    found = [i for i, test in enumerate(tests) if isinstance(test, Comparison)]
    p = holm([tests[i].p for i in found])
    p_eq = holm([tests[i].p_equivalent for i in found])
    out = list(tests)
    for i, x, y in zip(found, p, p_eq):
        out[i] = replace(tests[i], p_holm=x, p_equivalent_holm=y)
    return out
