"""ptlab-report's plots, per task: the metric against the trainable-parameter fraction, the
validation curves from each run's metrics.csv, the Pareto view (pareto.py), and (runs of
several prompt templates) the metric per template per method, each on the metric's own scale (x100
only for a metric in [0, 1], as in the tables). Drawn on Agg figures of their own, so a report made
inside another program (a sweep's end) leaves its matplotlib state alone.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pandas as pd

from ptlab.report.figures import figure, label_panel, title_row
from ptlab.report.cells import columns_of
from ptlab.report.scale import Scale, scale_of
from ptlab.report.lr import plot_lr
from ptlab.report.pareto import plot_pareto
from ptlab.report.stats import fresh_picks
from ptlab.run.directory import RunDir

ZERO_FLOOR = 1e-7  # where a method with no trainable parameters sits on a log x axis


def write_plots(
    runs: pd.DataFrame, table: pd.DataFrame, split: str, out: Path, picks: Optional[pd.DataFrame] = None
) -> List[Path]:
    """The plots for every task with a completed run, one color per method column throughout;
    the paths written (a task whose runs logged no validation curve has no curves plot). With tuned
    `picks`, the Pareto view shows each method at its chosen configuration only, over its fresh
    seeds as the tuned table does, one color per method."""
    colors = _colors(columns_of(runs))
    written = []
    for task in table["task"].unique():
        stem = _stem(task)
        if (table[table["task"] == task]["n"] > 0).any():
            plot_metric_vs_params(table, task, split, colors, out / f"{stem}_metric_vs_params.png")
            written.append(out / f"{stem}_metric_vs_params.png")
            pareto_runs = runs if picks is None else fresh_picks(runs, picks)
            pareto_colors = colors if picks is None else _colors(columns_of(pareto_runs))
            if plot_pareto(pareto_runs, task, split, pareto_colors, out / f"{stem}_pareto.png"):
                written.append(out / f"{stem}_pareto.png")
            task_metric = table[table["task"] == task]["metric"].iloc[0]
            if plot_lr(runs, task, task_metric, split, colors, out / f"{stem}_lr_sensitivity.png"):
                written.append(out / f"{stem}_lr_sensitivity.png")
            if plot_val_curves(runs, task, task_metric, colors, out / f"{stem}_val_curves.png"):
                written.append(out / f"{stem}_val_curves.png")
    return written


def write_template_plots(per: pd.DataFrame, table: pd.DataFrame, split: str, out: Path) -> List[Path]:
    """<task>_templates.png for every task with a method run under two templates or more."""
    colors = _colors(list(dict.fromkeys(per["setting"])))
    written = []
    for task, rows in per.groupby("task", sort=False):
        path = out / f"{_stem(task)}_templates.png"
        row = table[table["task"] == task].iloc[0]
        plot_templates(rows, row["metric"], Scale.of(row), split, colors, path)
        written.append(path)
    return written


def plot_templates(
    per: pd.DataFrame, metric: str, scale: Scale, split: str, colors: Dict[str, str], path: Path
) -> None:
    """The metric per template (x) per method (a line each, nudged apart), mean ± std over seeds;
    one panel per model."""
    models = sorted(per["model"].unique())
    fig, axes = figure(len(models), width=6.0 if len(models) > 1 else 7.0)
    for ax, model in zip(axes, models):
        rows = per[per["model"] == model]
        templates = sorted(rows["template"].unique())
        settings = list(dict.fromkeys(rows["setting"]))
        for i, setting in enumerate(settings):
            line = rows[rows["setting"] == setting]
            nudge = 0.06 * (i - (len(settings) - 1) / 2)
            seeds = line["n"].iloc[0] if line["n"].nunique() == 1 else "/".join(map(str, line["n"]))  # per template
            ax.errorbar(
                [templates.index(t) + nudge for t in line["template"]],
                scale.factor * line["mean"],
                yerr=scale.factor * line["std"].fillna(0),
                fmt="-o",
                ms=4,
                color=colors[setting],
                capsize=3,
                label=f"{setting} (n={seeds} seeds)",
            )
        ax.set_xticks(range(len(templates)), templates, rotation=30 if len(templates) > 4 else 0)
        label_panel(ax, model, "prompt template")
    title_row(
        fig,
        axes,
        f"{metric}{scale.named} ({split}, mean ± std over seeds)",
        f"{per['task'].iloc[0]}: {metric} per prompt template",
    )
    fig.savefig(path, dpi=120)


def _stem(task: str) -> str:
    return re.sub(r"[^\w.-]", "_", task)


def _colors(columns: Sequence[str]) -> Dict[str, str]:
    from matplotlib import rcParams

    cycle = rcParams["axes.prop_cycle"].by_key()["color"]
    return {column: cycle[i % len(cycle)] for i, column in enumerate(columns)}


def plot_metric_vs_params(table: pd.DataFrame, task: str, split: str, colors: Dict[str, str], path: Path) -> None:
    """Mean ± std of the metric against the trainable fraction; zero trainable sits at ZERO_FLOOR."""
    rows = table[(table["task"] == task) & (table["n"] > 0)]
    models = sorted(rows["model"].unique())
    scale = Scale.of(rows.iloc[0])
    fig, (ax,) = figure()
    for row in rows.itertuples():
        x = row.trainable_fraction if row.trainable_fraction > 0 else ZERO_FLOOR
        marker = "osD^v<>ph*"[models.index(row.model) % 10]
        ax.errorbar(
            x,
            scale.factor * row.mean,
            yerr=0 if math.isnan(row.std) else scale.factor * row.std,
            fmt=marker,
            color=colors[row.method],
            capsize=3,
            label=f"{row.method} · {row.model}" if len(models) > 1 else row.method,
        )
        if row.trainable_fraction == 0:
            ax.annotate(
                f"{row.method} (0 trainable, at {ZERO_FLOOR:g})",
                (x, scale.factor * row.mean),
                xytext=(6, 4),
                textcoords="offset points",
                fontsize=7,
            )
    ax.set_xscale("log")
    floor = f"; 0 is drawn at {ZERO_FLOOR:g}" if (rows["trainable_fraction"] == 0).any() else ""
    ax.set_xlabel(f"trainable parameters (fraction of total, log scale{floor})")
    ax.set_ylabel(f"{rows['metric'].iloc[0]}{scale.named} ({split}, mean ± std over seeds)")
    ax.set_title(f"{task}: {rows['metric'].iloc[0]} vs trainable parameters")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=120)


def plot_val_curves(runs: pd.DataFrame, task: str, metric: str, colors: Dict[str, str], path: Path) -> bool:
    """Validation curves per method from each run's metrics.csv: the mean over seeds at the steps
    they all validated at, each seed thinly; a single validation (zero-shot) as a dashed level."""
    columns = columns_of(runs)
    scale = scale_of(runs, task)
    runs = runs[(runs["task"] == task) & (runs["state"] == "completed")]
    models = sorted(runs["model"].unique())
    fig, axes = figure(len(models), width=6.0 if len(models) > 1 else 7.0)
    drawn = False
    for ax, model in zip(axes, models):
        for column in columns:
            seeds = {}
            for run in runs[(runs["model"] == model) & (runs["column"] == column)].itertuples():
                csv = RunDir(run.file.parent).metrics_csv
                curve = read_val_curve(csv, metric)
                if curve is None:
                    print(f"ptlab-report: warning: no val/{metric} curve in {csv}", file=sys.stderr)
                else:
                    seeds[run.seed] = scale.factor * curve
            if not seeds:
                continue
            drawn = True
            frame = pd.DataFrame(seeds).sort_index()
            aligned = frame.dropna().mean(axis=1)
            label = f"{column} (n={len(seeds)})"
            if len(frame) == 1:
                ax.axhline(aligned.iloc[0], color=colors[column], ls="--", label=label)
                continue
            if len(seeds) > 1:
                for seed in frame:
                    ax.plot(frame[seed].dropna(), color=colors[column], lw=0.7, alpha=0.35)
            ax.plot(
                aligned if len(aligned) else frame.iloc[:0, 0],
                color=colors[column],
                marker="o",
                ms=3,
                label=label if len(aligned) else f"{column} (seeds not aligned)",
            )
        label_panel(ax, model, "step")
    title_row(
        fig,
        axes,
        f"val {metric}{scale.named}",
        f"{task}: validation {metric} (thin: single seeds; dashed: one validation only)",
    )
    if drawn:
        fig.savefig(path, dpi=120)
    return drawn


def read_val_curve(path: Path, metric: str) -> Optional[pd.Series]:
    """val/<metric> by step during training, or None when it is not there.

    After fit, ptlab-train may validate again (the best checkpoint; the final weights when
    training did not end on a validation); lightning logs those with the epoch counter already
    past the last training epoch. Drawn, they read as a jump at the end, so they are left out.
    The last value logged at a step wins.
    """
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError):
        return None
    column = f"val/{metric}"
    if column not in frame or "step" not in frame:
        return None
    if "train/loss" in frame and "epoch" in frame and frame["train/loss"].notna().any():
        frame = frame[frame["epoch"] <= frame.loc[frame["train/loss"].notna(), "epoch"].max()]
    return frame.dropna(subset=[column]).groupby("step")[column].last()
