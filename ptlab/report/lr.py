"""ptlab-report's learning-rate sensitivity view: for each method whose runs differ in
`method.lr` (an hparams_search sweep), its score against the rate on a log axis, on the selection
split (what tuning saw) and on the reported split, mean ± std over seeds, on the metric's own scale.
Prompt and prefix tuning are known to be far more rate-sensitive than LoRA or full fine-tuning; this
shows how much, here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Optional

import pandas as pd

from ptlab.report.figures import figure, label_panel, title_row
from ptlab.report.scale import scale_of

LR = re.compile(r"(?:^|,)method\.lr=([^,]+)")


def lr_points(runs: pd.DataFrame, task: str) -> pd.DataFrame:
    """Per model x method x learning rate (other overrides alike): n seeds and the mean/std of the
    selection score (`select`) and the reported one (`value`); only methods run at two rates or more."""
    done = runs[(runs["task"] == task) & (runs["state"] == "completed")].copy()
    rates = done["variant"].map(lambda v: LR.search(v))
    done = done[rates.notna()]
    if done.empty:
        return pd.DataFrame()
    done["lr"] = [float(m.group(1)) for m in rates[rates.notna()]]
    done["rest"] = done["variant"].map(lambda v: LR.sub("", v).strip(","))  # the sweep's other settings
    points = (
        done.groupby(["model", "method", "rest", "lr"])
        .agg(n=("seed", "nunique"), select=("select", "mean"), select_std=("select", "std"),
             value=("value", "mean"), value_std=("value", "std"))
        .reset_index()
    )  # fmt: skip
    several = points.groupby(["model", "method", "rest"])["lr"].transform("nunique") > 1
    return points[several].sort_values(["model", "method", "rest", "lr"])


def plot_lr(runs: pd.DataFrame, task: str, metric: str, split: str, colors: Dict[str, str], path: Path) -> bool:
    """<task>_lr_sensitivity.png: one panel per model; solid = selection split, dashed = reported.
    False (nothing written) when no method of the task ran at two rates."""
    points = lr_points(runs, task)
    if points.empty:
        return False
    models = sorted(points["model"].unique())
    scale = scale_of(runs, task)
    fig, axes = figure(len(models), width=6.0 if len(models) > 1 else 7.0)
    for ax, model in zip(axes, models):
        for (method, rest), line in points[points["model"] == model].groupby(["method", "rest"], sort=False):
            label = method + (f" [{rest}]" if rest else "")
            color = _color(colors, method, label)
            for column, style, which in (("select", "-o", "validation"), ("value", "--s", split)):
                ax.errorbar(
                    line["lr"], scale.factor * line[column], yerr=scale.factor * line[f"{column}_std"].fillna(0),
                    fmt=style, ms=4,
                    color=color, capsize=3, label=f"{label}: {which} (n={_seeds(line)})",
                )  # fmt: skip
        ax.set_xscale("log")
        label_panel(ax, model, "learning rate (method.lr)")
    title_row(fig, axes, f"{metric}{scale.named} (mean ± std over seeds)", f"{task}: learning-rate sensitivity")
    fig.savefig(path, dpi=120)
    return True


def _color(colors: Dict[str, str], method: str, label: str) -> Optional[str]:
    """The method's color in the other plots (the first of its columns)."""
    return next((c for column, c in colors.items() if column.split(" [")[0] == method), None)


def _seeds(line: pd.DataFrame) -> str:
    counts: List[int] = sorted(set(line["n"]))
    return "/".join(map(str, counts))
