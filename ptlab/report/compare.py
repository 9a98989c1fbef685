"""ptlab-report's comparisons between the columns of a row (model x task).

Every column is compared with the row's reference column and with zero-shot by the seed-aware test
of ptlab/report/seeds.py, from the prediction rows each run wrote for the reported split. The
reference is the column with the best mean *validation* score (`metrics.val_best`; the highest, or
the lowest for a lower-is-better metric), never the reported split's: choosing it on test would make
every other column look worse by selection alone. The zero-shot comparator is the plain `zero_shot`
column where it ran, else the zero-shot variant (e.g. template) with the best validation score. A
row's p-values are Holm-adjusted together, and each comparison reads better / worse / equivalent
within +-margin / inconclusive, in the metric's direction.

The run's kind turns its rows into the metric's per-example statistics (`TaskKind.example_statistics`),
so corpus metrics (BLEU, chrF, entity F1, macro F1) are recomputed on every resample; a run dir
without config.yaml is read as means of the rows' `example_scores`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from ptlab.report.scale import run_kind
from ptlab.report.seeds import Column, Comparison, adjusted, compare, resample
from ptlab.run.directory import RunDir

PREDICTIONS = {"test": "test", "val": "val"}  # --split -> whose predictions file matches its scores
ZERO_SHOT = "zero_shot"
IDENTITY = ("prompt", "tokens", "gold", "references")  # what an example is, across methods
VERSUS = ("reference", "zero_shot")
MARKS = {"better": " ↑", "worse": " ↓", "equivalent": " ≡", "inconclusive": " ?"}
REFERENCE_MARK = " (ref)"


def read_column(cell: pd.DataFrame, split: str, metric: str) -> Union[Column, str]:
    """A column's completed seeds as one Column, or why it has none to compare."""
    if split not in PREDICTIONS:
        return f"predictions_val.jsonl holds the selected checkpoint's predictions, not those of --split {split}"
    done = cell[(cell["state"] == "completed") & cell["value"].notna()]
    seeds = []
    for path in sorted(done["file"]):
        read = _read_seed(RunDir(Path(path).parent), split, metric)
        if isinstance(read, str):
            return read
        if seeds and read[0] != seeds[0][0]:
            return f"its seeds were evaluated on different examples ({Path(path).parent})"
        seeds.append(read)
    if not seeds:
        return "no completed run"
    ids, stats = seeds[0]
    higher, factor = bool(done["higher_is_better"].iloc[0]), float(done["factor"].iloc[0])
    return Column(np.stack([s.per_row for _, s in seeds]), stats.value, ids, higher, 1 / factor)  # unit: one point


def _read_seed(run: RunDir, split: str, metric: str) -> Union[Tuple[Tuple[str, ...], object], str]:
    path = run.predictions(PREDICTIONS[split])
    if not path.is_file():
        return f"no {path.name} in {path.parent}"
    try:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        ids = tuple(json.dumps([row.get(key) for key in IDENTITY]) for row in rows)
    except (OSError, ValueError, AttributeError) as err:
        return f"{path} cannot be read ({err})"
    kind = run_kind(run.root)  # a kind ptlab-report does not know never got here (report/gather.py)
    stats = kind.example_statistics(metric, rows)
    if stats is None:
        return f"{metric} cannot be recomputed from the rows of {path} (an empty file, or an older run)"
    return ids, stats


def reference(columns: Sequence[str], runs: pd.DataFrame) -> Optional[str]:
    """The column with the best mean validation score (`select`) over its completed seeds, in the
    metric's direction (the lowest MSE); a tie goes to the first in table order; None when no column has one."""
    done = runs[(runs["state"] == "completed") & runs["select"].notna()]
    means = done.groupby("column")["select"].mean()
    known = [c for c in columns if c in means.index]
    if not known:
        return None
    sign = 1 if done["higher_is_better"].iloc[0] else -1
    return max(known, key=lambda c: sign * means[c])


def zero_shot(columns: Sequence[str], runs: pd.DataFrame) -> Optional[str]:
    """The zero-shot comparator: plain `zero_shot` if it ran, else its variant best on validation."""
    method_of = dict(zip(runs["column"], runs["method"]))
    zero = [c for c in columns if method_of.get(c) == ZERO_SHOT]
    plain = [c for c in zero if c == ZERO_SHOT]
    return plain[0] if plain else reference(zero, runs)


def significance(table: pd.DataFrame, runs: pd.DataFrame, split: str, margin: float) -> pd.DataFrame:
    """Per model x task x column of `table` (filled cells only): its Comparison with the row's
    reference and with zero-shot (None: itself or no such column; a str: why untested). `margin`
    is in points of the metric's scale (0.01 per point for a [0, 1] metric)."""
    out = []
    for (model, task), cells in table[table["n"] > 0].groupby(["model", "task"], sort=False):
        here = runs[(runs["model"] == model) & (runs["task"] == task)]
        names = list(cells["method"])
        columns = {c: read_column(here[here["column"] == c], split, cells["metric"].iloc[0]) for c in names}
        against = {"reference": reference(names, here), "zero_shot": zero_shot(names, here)}
        draws = _draws(columns)
        tests = [
            None if against[v] in (None, c) else _test(columns, draws, c, against[v], margin)
            for c in names
            for v in VERSUS
        ]
        tests = adjusted(tests)  # Holm over the row's comparisons
        for i, column in enumerate(names):
            pair = dict(zip((f"vs_{v}" for v in VERSUS), tests[2 * i : 2 * i + 2]))
            out.append({"model": model, "task": task, "method": column, **against, **pair})
    return pd.DataFrame(out, columns=["model", "task", "method", *VERSUS, *(f"vs_{v}" for v in VERSUS)])


def _draws(columns: Dict[str, Union[Column, str]]) -> Dict[str, np.ndarray]:
    """Each readable column's resampled per-seed scores; columns on the same examples share the draws."""
    groups: Dict[Tuple[str, ...], List[str]] = {}
    for name, column in columns.items():
        if isinstance(column, Column):
            groups.setdefault(column.ids, []).append(name)
    draws = {}
    for names in groups.values():
        draws.update(zip(names, resample([columns[n] for n in names])))
    return draws


def _test(columns: Dict, draws: Dict, a: str, b: str, margin: float) -> Union[Comparison, str]:
    """a - b, or why the two columns cannot be paired."""
    x, y = columns[a], columns[b]
    if isinstance(x, str):
        return x
    if isinstance(y, str):
        return f"{b}: {y}"
    if len(x.ids) != len(y.ids):
        return f"{len(x.ids)} examples vs {len(y.ids)} in {b}: not the same examples"
    if x.ids != y.ids:
        first = next(i for i, (p, q) in enumerate(zip(x.ids, y.ids)) if p != q)
        return f"example {first} differs from {b}'s (prompt or gold): another template or data, not paired"
    return compare(x, y, draws[a], draws[b], margin * x.unit)


def marks(sig: pd.DataFrame) -> Dict[Tuple[str, str, str], str]:
    """(model, task, column) -> the main table's mark against the row's reference: `(ref)` on it,
    else its verdict (↑ better, ↓ worse, ≡ equivalent within the margin, ? inconclusive); nothing
    where untested."""
    found = {}
    for r in sig.itertuples():
        if isinstance(r.vs_reference, Comparison):
            found[(r.model, r.task, r.method)] = MARKS[r.vs_reference.verdict]
            found[(r.model, r.task, r.reference)] = REFERENCE_MARK
    return found


def significance_columns(sig: pd.DataFrame) -> pd.DataFrame:
    """The tests as numbers for report.csv, per model x task x column (NaN where untested or none)."""
    rows = []
    for r in sig.itertuples():
        row = {"model": r.model, "task": r.task, "method": r.method}
        for name in VERSUS:
            test = getattr(r, f"vs_{name}")
            tested = isinstance(test, Comparison)
            row[name] = getattr(r, name)
            for field in ("delta", "low", "high", "p", "p_holm", "p_equivalent", "p_equivalent_holm", "df"):
                row[f"{field}_vs_{name}"] = getattr(test, field) if tested else math.nan
            row[f"verdict_vs_{name}"] = test.verdict if tested else ""
            row[f"seeds_vs_{name}"] = "/".join(map(str, test.seeds)) if tested else ""
            for field in ("delta", "low", "high", "p"):
                row[f"examples_{field}_vs_{name}"] = getattr(test.examples, field) if tested else math.nan
            row[f"untested_vs_{name}"] = test if isinstance(test, str) else ""
        rows.append(row)
    return pd.DataFrame(rows)
