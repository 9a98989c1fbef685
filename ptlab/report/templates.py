"""ptlab-report's prompt sensitivity: how much a method's score moves with the prompt template,
and whether methods agree on which templates are good.

A run's template is its record's `template` (ptlab-train writes the name chosen from the task's
template library), or for records without one the `task.template=<name>` override in its run dir's
path. The main table keeps one column per method x template, so nothing is averaged across
templates silently; this section summarizes across them, per model x task x method setting (the
method with its other overrides): each template's score is the mean over its completed seeds, and
across templates come n, mean, sample std (ddof=1), min, max and the gap max - min, and the worst
and best template in the metric's direction (the best MSE is the lowest). Per model x task, Kendall's
tau-b compares two methods' rankings of the templates both ran with.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import List, Optional, Sequence, Tuple

import pandas as pd

from ptlab.report.scale import Scale, task_label
from ptlab.report.table import latex, markdown

OVERRIDE = "task.template"


def split_template(variant: str) -> Tuple[str, Optional[str]]:
    """A run dir's other overrides (`key=value,...`) apart from its task.template one:
    (the others, the template name or None)."""
    template, others = None, []
    for item in variant.split(",") if variant else []:
        key, _, value = item.lstrip("+~").partition("=")
        if key == OVERRIDE and value:
            template = value
        else:
            others.append(item)
    return ",".join(others), template


def split_templates(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs of one cell (model x task x method x variant) whose records name different templates that
    their run dirs do not (a task's default template changed, or one set by an experiment) get a
    column each: the override joins the variant. One template per task (the default on each) is no split."""
    unnamed = runs["variant"].map(lambda v: split_template(v)[1] is None) & runs["template"].notna()
    cell = ["name", "model", "task", "method", "variant"]
    several = runs[unnamed].groupby(cell)["template"].transform("nunique") > 1
    tagged = several[several].index
    runs.loc[tagged, "variant"] = [
        ",".join(filter(None, [variant, f"{OVERRIDE}={template}"]))
        for variant, template in zip(runs.loc[tagged, "variant"], runs.loc[tagged, "template"])
    ]
    return runs


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b of two paired samples (ties in either corrected for); nan when one is constant."""
    try:
        from scipy.stats import kendalltau
    except ImportError:  # scipy is optional: the same statistic from its definition
        return tau_b(x, y)
    return float(kendalltau(x, y)[0])  # [0]: `.correlation` before scipy 1.10, `.statistic` since


def tau_b(x: Sequence[float], y: Sequence[float]) -> float:
    """(concordant - discordant) / sqrt((pairs - ties in x) * (pairs - ties in y))."""
    signs = [(_sign(x[i] - x[j]), _sign(y[i] - y[j])) for i, j in combinations(range(len(x)), 2)]
    untied_x, untied_y = sum(sx != 0 for sx, _ in signs), sum(sy != 0 for _, sy in signs)
    if not untied_x or not untied_y:
        return math.nan
    return sum(sx * sy for sx, sy in signs) / math.sqrt(untied_x * untied_y)


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


def per_template(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over completed seeds per model x task x setting x template, for settings run
    with at least two templates (runs without template info are in none)."""
    done = runs[(runs["state"] == "completed") & runs["value"].notna() & runs["template"].notna()]
    per = (
        done.groupby(["model", "task", "setting", "template"])
        .agg(
            mean=("value", "mean"),
            std=("value", "std"),
            n=("value", "size"),
            higher_is_better=("higher_is_better", "first"),
        )
        .reset_index()
    )
    per = per[per.groupby(["model", "task", "setting"])["template"].transform("size") > 1]
    rank = runs.groupby("setting")["rank"].min()  # the main table's method order
    return per.assign(r=per["setting"].map(rank)).sort_values(["model", "task", "r", "template"]).drop(columns="r")


def spread(per: pd.DataFrame) -> pd.DataFrame:
    """Across templates, per model x task x setting: n, mean, std (ddof=1), min, max, gap, worst, best."""
    rows = []
    for (model, task, setting), group in per.groupby(["model", "task", "setting"], sort=False):
        means = group.set_index("template")["mean"]
        worst, best = means.idxmin(), means.idxmax()
        rows.append(
            {
                "model": model,
                "task": task,
                "method": setting,
                "n_templates": len(means),
                "mean": means.mean(),
                "std": means.std(ddof=1),
                "min": means.min(),
                "max": means.max(),
                "gap": means.max() - means.min(),
                "worst": worst if group["higher_is_better"].iloc[0] else best,
                "best": best if group["higher_is_better"].iloc[0] else worst,
                "templates": ", ".join(means.index),
            }
        )
    return pd.DataFrame(rows)


def agreement(per: pd.DataFrame) -> pd.DataFrame:
    """Kendall's tau-b per model x task between each pair of settings, over their shared templates."""
    rows = []
    for (model, task), group in per.groupby(["model", "task"], sort=False):
        means = {setting: g.set_index("template")["mean"] for setting, g in group.groupby("setting", sort=False)}
        for a, b in combinations(means, 2):
            shared = sorted(set(means[a].index) & set(means[b].index))
            tau = kendall_tau(list(means[a][shared]), list(means[b][shared])) if len(shared) > 1 else math.nan
            rows.append({"model": model, "task": task, "a": a, "b": b, "n_templates": len(shared), "tau": tau})
    return pd.DataFrame(rows, columns=["model", "task", "a", "b", "n_templates", "tau"])


def _shown(value: float, scale: Scale) -> str:
    return "–" if math.isnan(value) else scale(value)


def _tau(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.2f}"


def tables(stats: pd.DataFrame, taus: pd.DataFrame, table: pd.DataFrame) -> List[Tuple[List[str], List[List[str]]]]:
    """The spread table (on each task's scale, as in the summary `table`), then (when some model x
    task has two methods to compare) the mean and the pairwise tau tables."""
    scale = {r.task: Scale.of(r) for r in table.itertuples()}
    metric = dict(zip(table["task"], table["metric"]))
    task = {task: task_label(task, metric[task], scale[task]) for task in stats["task"].unique()}
    result = [
        (
            ["model", "task (metric)", "method", "templates", "mean", "std", "min", "max", "gap", "worst", "best"],
            [
                [r.model, task[r.task], r.method, r.n_templates]
                + [_shown(v, scale[r.task]) for v in (r.mean, r.std, r.min, r.max, r.gap)]
                + [r.worst, r.best]
                for r in stats.itertuples()
            ],
        )
    ]
    if taus.empty:
        return result
    means = []
    for (model, name), group in taus.groupby(["model", "task"], sort=False):
        known = group["tau"].dropna()
        methods = ", ".join(dict.fromkeys([*group["a"], *group["b"]]))
        means.append([model, task[name], methods, len(known), _tau(known.mean() if len(known) else math.nan)])
    pairs = [[r.model, task[r.task], r.a, r.b, r.n_templates, _tau(r.tau)] for r in taus.itertuples()]
    return result + [
        (["model", "task (metric)", "methods", "pairs", "mean τ"], means),
        (["model", "task (metric)", "method A", "method B", "shared templates", "τ"], pairs),
    ]


INTRO = (
    "Per model × task × method: each template's score is the mean over its seeds (on the main table's "
    "scale; the main table has one column per template); across templates, mean, sample std (ddof=1), min, "
    "max and gap = max − min, with the worst and best template (the metric's own direction). τ is "
    "Kendall's τ-b between two methods' rankings of the templates both ran with (1: same order, −1: "
    "reversed; – when fewer than two shared templates or one method scores them all alike); mean τ is "
    "over the pairs that have one."
)
TITLES = ("", "Template rankings across methods, mean τ over method pairs:", "τ per method pair:")


def section(found: List[Tuple[List[str], List[List[str]]]]) -> List[str]:
    """Markdown lines of the `Prompt sensitivity` section."""
    lines = ["## Prompt sensitivity (across templates)", "", INTRO, ""]
    for title, (header, rows) in zip(TITLES, found):
        lines += ([title, ""] if title else []) + [markdown(header, rows), ""]
    return lines


def latex_section(found: List[Tuple[List[str], List[List[str]]]], split: str) -> str:
    """The section's tables as booktabs tabulars, one after the other."""
    notes = (
        f"ptlab-report: prompt sensitivity on {split}, across templates of the per-template mean over seeds",
        "ptlab-report: template rankings, mean Kendall tau-b over method pairs",
        "ptlab-report: template rankings, Kendall tau-b per method pair",
    )
    text = "\n".join(latex(header, rows, [note]) for note, (header, rows) in zip(notes, found))
    return text.replace("τ", r"$\tau$")  # only in headers: no text mode τ in pdflatex
