"""ptlab-report's table cells: the runs (gather.py) summarized into one row per model x task x
method column, with each cell's mean, interval, counts, costs and baselines, and why an empty cell
is empty by design (not applicable) rather than missing.
"""

from __future__ import annotations

from typing import List, Optional

import pandas as pd

import ptlab.report.baselines as report_baselines
from ptlab.methods import registry
from ptlab.report.scale import scale_of
from ptlab.report.stats import t_interval
from ptlab.report.table import cell_text, mixes
from ptlab.report.templates import split_template


def columns_of(runs: pd.DataFrame) -> List[str]:
    """The table's method columns, fewest trained parameters first."""
    return list(runs.sort_values("rank")["column"].unique())


def summarize(runs: pd.DataFrame, split: str, leave_out: Optional[pd.Series] = None) -> pd.DataFrame:
    """One row per model x task x method column, including `missing` ones, with its table cell;
    the runs where `leave_out` is true are in no cell (a tuned pick's tuning seeds)."""
    columns = columns_of(runs)
    metrics = runs.dropna(subset=["metric"]).groupby("task")["metric"].first()
    method_of = dict(zip(runs["column"], runs["method"]))
    variant_of = dict(zip(runs["column"], runs["variant"]))
    rows = []
    kept = runs if leave_out is None else runs[~leave_out]
    for (model, task), runs_mt in runs.groupby(["model", "task"], sort=True):
        scale = scale_of(runs, task)
        baselines = report_baselines.row_fields(runs_mt[runs_mt["state"] == "completed"], scale)
        for column in columns:
            cell = kept[(kept["model"] == model) & (kept["task"] == task) & (kept["column"] == column)]
            done = cell[cell["state"] == "completed"]
            values = done["value"].dropna()
            rows.append(
                {
                    "model": model,
                    "task": task,
                    "metric": metrics.get(task, "–"),
                    "method": column,
                    "mean": values.mean(),
                    "std": values.std(ddof=1),
                    **dict(zip(("ci_low", "ci_high"), t_interval(values))),
                    "n": len(values),
                    "n_failed": int((cell["state"] == "failed").sum()),
                    "n_incomplete": int((cell["state"] == "incomplete").sum()),
                    "n_without_metric": int(done["value"].isna().sum()),
                    "trainable_fraction": done["trainable_fraction"].mean(),
                    "peak_memory_bytes": done["peak_memory_bytes"].mean(),
                    "memory_kind": ", ".join(sorted(done["memory_kind"].dropna().unique())),
                    "train_seconds": done["train_seconds"].mean(),
                    "mixes": mixes(done),  # what the mean averages
                    **report_baselines.cell_fields(done),
                    **baselines,
                    "higher_is_better": scale.higher_is_better,
                    "factor": scale.factor,  # the Markdown and LaTeX show factor x the numbers here
                    "decimals": scale.decimals,
                }
            )
            if not (runs_mt["column"] == column).any():  # never ran here (tuning seeds left out are still runs)
                rows[-1]["not_applicable"] = _not_applicable(runs_mt, method_of[column], variant_of[column])
    table = pd.DataFrame(rows)
    table["cell"] = [cell_text(row, split) for row in table.itertuples()]
    return table


def _not_applicable(runs_mt: pd.DataFrame, method: str, variant: str) -> Optional[str]:
    """Why a model x task has no run in a column by design, not by omission (None: missing). A
    column that names a template (`task.template=...`) this task's runs never used is another
    task's: template names belong to their task's library. A column that names none ran each
    task's own default, so a model x task without it is missing."""
    if _needs_lm_head(method) and set(runs_mt["family"]) == {"encoder"}:
        return "no LM head"  # ptlab-train skips LM-head methods on encoders
    template = split_template(variant)[1]
    if template and template not in set(runs_mt["template"].dropna()):
        return "another task's template"
    return None


def _needs_lm_head(method: str) -> bool:
    known = registry().get(method)
    return bool(known and known.needs_lm_head)
