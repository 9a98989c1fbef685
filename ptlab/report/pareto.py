"""ptlab-report's Pareto view, per task: quality against three costs (trainable parameters, peak
memory, training time), like peft's method-comparison plots, so a reader sees which methods buy
their quality cheaply and which are beaten by something cheaper. Per-seed values come from the
runs, not the table's means, so the costs get error bars too. Quality is on the metric's own scale
and in its own direction: for a lower-is-better metric (an MSE) the front keeps the lowest.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Dict, List, Sequence

import pandas as pd

from ptlab.report.figures import figure
from ptlab.report.scale import scale_of

GIB = 2**30
MARKERS = "osD^v<>ph*"
FRONT_STYLES = ("-", "--", ":", "-.")
# (cost column, its seed-std column or None, panel title)
PANELS = (
    ("trainable", None, "trainable parameters"),
    ("memory_gib", "memory_gib_std", "peak memory"),
    ("train_minutes", "train_minutes_std", "training time"),
)


def pareto_front(costs: Sequence[float], qualities: Sequence[float]) -> List[int]:
    """Indices of the points no other point dominates (cost <= and quality >=, one of them strictly),
    in order of cost; a point with an unknown (NaN) cost or quality is never on the front."""
    known = [i for i, (c, q) in enumerate(zip(costs, qualities)) if not (math.isnan(c) or math.isnan(q))]
    front = [
        i
        for i in known
        if not any(
            costs[j] <= costs[i]
            and qualities[j] >= qualities[i]
            and (costs[j], qualities[j]) != (costs[i], qualities[i])
            for j in known
        )
    ]
    return sorted(front, key=lambda i: (costs[i], -qualities[i]))


def trainable_count(path: Path) -> float:
    """The absolute trainable-parameter count ptlab-train recorded (`params.trainable`); NaN when the
    record has none (the runs table carries only the fraction)."""
    try:
        value = json.loads(Path(path).read_text()).get("params", {}).get("trainable")
    except (OSError, ValueError, AttributeError):
        return math.nan
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def pareto_points(runs: pd.DataFrame, task: str) -> pd.DataFrame:
    """One row per model x method column of the task's completed runs with a score: n seeds, quality
    (the metric as the table shows it: x100 where it is in [0, 1]) and each cost as mean and sample
    std over those seeds, and which way quality is better."""
    scale = scale_of(runs, task)
    done = runs[(runs["task"] == task) & (runs["state"] == "completed")].dropna(subset=["value"])
    done = done.assign(
        quality=scale.factor * done["value"],
        trainable=[trainable_count(f) for f in done["file"]],
        memory_gib=done["peak_memory_bytes"] / GIB,
        train_minutes=done["train_seconds"] / 60,
    )
    rows = []
    for (model, column), seeds in done.groupby(["model", "column"], sort=False):
        row = {"model": model, "column": column, "rank": seeds["rank"].iloc[0], "n": len(seeds)}
        row["higher_is_better"] = scale.higher_is_better
        for name in ("quality", "trainable", "memory_gib", "train_minutes"):
            row[name], row[f"{name}_std"] = seeds[name].mean(), seeds[name].std(ddof=1)
        row["memory_kind"] = ", ".join(sorted(map(str, seeds["memory_kind"].dropna().unique())))
        rows.append(row)
    columns = ["model", "column", "rank", "n", "higher_is_better", "quality", "quality_std", "memory_kind"]
    if not rows:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame(rows).sort_values(["model", "rank"], ignore_index=True)


def front_methods(points: pd.DataFrame, cost: str) -> Dict[str, List[str]]:
    """Per model, the method columns on its Pareto front for one cost, cheapest first: quality
    counted in the metric's direction (the lowest MSE is the best)."""
    fronts = {}
    for model, rows in points.groupby("model", sort=True):
        rows = rows.reset_index(drop=True)
        better = rows["quality"] if rows["higher_is_better"].iloc[0] else -rows["quality"]
        front = pareto_front(list(rows[cost]), list(better))
        fronts[model] = [rows["column"][i] for i in front]
    return fronts


def count_floor(counts: pd.Series) -> float:
    """Where zero trainable parameters are drawn on the log axis: a decade below the smallest count."""
    positive = counts[counts > 0]
    return 10.0 ** (math.floor(math.log10(positive.min())) - 1) if len(positive) else 1.0


def plot_pareto(runs: pd.DataFrame, task: str, split: str, colors: Dict[str, str], path: Path) -> bool:
    """<task>_pareto.png: three panels (trainable parameters, peak memory, training time) of quality
    mean ± std over seeds, with each model's Pareto front as a step line; False when nothing to draw."""
    points = pareto_points(runs, task)
    if points.empty:
        return False
    models = sorted(points["model"].unique())
    metric = runs[runs["task"] == task]["metric"].dropna().iloc[0] + scale_of(runs, task).named
    floor = count_floor(points["trainable"].dropna())
    fig, axes = figure(3, width=5.0)
    for ax, (cost, std, title) in zip(axes, PANELS):
        for row in points.itertuples():
            x = getattr(row, cost)
            if math.isnan(x):
                continue
            xerr = getattr(row, std) if std else math.nan
            ax.errorbar(
                floor if cost == "trainable" and x == 0 else x,
                row.quality,
                yerr=0 if math.isnan(row.quality_std) else row.quality_std,
                xerr=None if math.isnan(xerr) else xerr,
                fmt=MARKERS[models.index(row.model) % len(MARKERS)],
                color=colors[row.column],
                capsize=3,
                label=f"{row.column} · {row.model} (n={row.n})" if len(models) > 1 else f"{row.column} (n={row.n})",
            )
        for i, (model, front) in enumerate(front_methods(points, cost).items()):
            rows = points[points["model"] == model].set_index("column").loc[front]
            xs = [floor if cost == "trainable" and x == 0 else x for x in rows[cost]]
            ax.step(
                xs,
                rows["quality"],
                where="post",
                color="0.35",
                ls=FRONT_STYLES[i % len(FRONT_STYLES)],
                lw=1,
                zorder=1,
                label=f"Pareto front · {model}" if len(models) > 1 else "Pareto front",
            )
        ax.set_title(f"vs {title}")
        ax.grid(True, alpha=0.3)
    _axes_labels(axes, points, floor, metric, split)
    # the fullest panel's legend: a record without an absolute count has no point on the first
    handles, labels = max((ax.get_legend_handles_labels() for ax in axes), key=lambda hl: len(hl[1]))
    fig.legend(handles, labels, loc="outside right upper", fontsize=7)
    fig.suptitle(
        f"{task}: {metric} ({split}) against cost; error bars: std over seeds; "
        "line: Pareto front (no other method better for less)",
        fontsize=10,
    )
    fig.savefig(path, dpi=120)
    return True


def _axes_labels(axes, points: pd.DataFrame, floor: float, metric: str, split: str) -> None:
    """Axis labels that say how zero is drawn and which memory was measured."""
    params, memory, time = axes
    params.set_xscale("log")
    zero = points["trainable"] == 0
    if zero.any():
        params.axvline(floor, color="0.6", ls=":", lw=1, zorder=0)
        params.annotate(
            "0 trainable", (floor, 1), xycoords=("data", "axes fraction"), xytext=(3, -12),
            textcoords="offset points", fontsize=7, color="0.4",
        )  # fmt: skip
        _zero_tick(params, floor)
    floor_note = f"; 0 is drawn at {floor:g}" if zero.any() else ""
    params.set_xlabel(f"trainable parameters (count, log scale{floor_note})")
    kinds = sorted({k for ks in points["memory_kind"] for k in ks.split(", ") if k})
    kind = (kinds[0] if len(kinds) == 1 else f"mixed: {', '.join(kinds)}") if kinds else "kind unknown"
    memory.set_xlabel(f"peak memory (GiB, {kind})")
    time.set_xlabel("training time (minutes)")
    params.set_ylabel(f"{metric} ({split}, mean ± std over seeds)")


def _zero_tick(ax, floor: float) -> None:
    """The floor's decade tick reads 0, so the axis does not claim a count the runs never had."""
    from matplotlib.ticker import FuncFormatter, LogFormatterSciNotation

    decades = LogFormatterSciNotation()
    decades.set_axis(ax.xaxis)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, pos: "0" if math.isclose(x, floor) else decades(x, pos)))
