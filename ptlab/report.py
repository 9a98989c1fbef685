"""ptlab-report: one comparison table, and plots, from the results.json of runs and sweeps.

    ptlab-report <run or sweep dirs...> [--out DIR] [--metric NAME] [--split val|test]

Runs may come from several machines copied together or from a sweep that is still partial, so
every run found is accounted for: a cell says how many seeds it averages and how many failed or
are unfinished, a method that never ran for a model x task says `missing`, a cell whose runs differ
in config or data fingerprint is marked, and a results.json that cannot be read is listed under the
table instead of stopping the report.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pandas as pd

from ptlab.errors import PtlabError
from ptlab.record import RESULTS
from ptlab.report_table import cell_text, cost_table, latex, main_table, markdown, mixed_notes, mixes, notes

METHOD_ORDER = ("zero_shot", "prompt_tuning", "prefix_tuning", "full_finetune")  # fewest trained first
ZERO_FLOOR = 1e-7  # where a method with no trainable parameters sits on a log x axis
# --split -> the metrics entry of results.json. `val` is the validation score of the checkpoint
# chosen on that same validation set (optimistic for trained methods when there is no test split);
# `val_final` is the last step's, with no selection.
SOURCES = {"val": "val_best", "val_final": "val_final", "test": "test"}
STATES = {"completed": "completed", "failed": "failed", "running": "incomplete", "preempted": "incomplete"}
REQUIRED = ("model", "task", "method", "seed", "status")


def find_results(inputs: Sequence[Path]) -> List[Path]:
    """Every run's results.json under the inputs, once each, even when inputs overlap.

    An earlier attempt's record (attempts/<n>/results.json) is history, not a run.
    """
    found = set()
    for path in inputs:
        if not path.exists():
            raise PtlabError(f"{path} does not exist")
        if not path.is_dir():
            raise PtlabError(f"{path} is not a directory (pass run or sweep directories)")
        found.update(p.resolve() for p in path.rglob(RESULTS)
                     if not (p.parent.parent.name == "attempts" and p.parent.name.isdigit()))
    if not found:
        raise PtlabError(f"no {RESULTS} found under {', '.join(map(str, inputs))}")
    return sorted(found)


class BadRecord(PtlabError):
    """A results.json that is not a readable run record; the report lists it instead of a run."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"malformed {path}: {reason}")
        self.path, self.reason = path, reason


def read_record(path: Path) -> Dict[str, Any]:
    """A run record with its identity and a known status, or BadRecord with a one-line reason."""
    try:
        text = path.read_text()
        record = json.loads(text)
    except OSError as err:
        raise BadRecord(path, f"cannot be read ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise BadRecord(path, "not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise BadRecord(path, f"not valid JSON ({err})" if text.strip() else "empty file") from None
    if not isinstance(record, dict):
        raise BadRecord(path, f"not a JSON object but {type(record).__name__} (not a ptlab run record)")
    missing = [key for key in REQUIRED if key not in record]
    if missing:
        raise BadRecord(path, f"not a ptlab run record: no {', '.join(missing)}")
    if record["status"] not in STATES:
        raise BadRecord(path, f"unknown status {record['status']!r}")
    return record


def load_run(path: Path, split: str, metric: Optional[str]) -> Dict[str, Any]:
    """One run as a flat row; a file that is not a run record is a BadRecord naming the file."""
    record = read_record(path)
    fingerprint = record.get("fingerprint") or {}  # none in records written before fingerprints
    if not isinstance(fingerprint, dict) or not all(isinstance(fingerprint.get(kind), (str, type(None)))
                                                    for kind in ("config", "data")):
        raise BadRecord(path, "fingerprint is not {config: <hash>, data: <hash>}")
    row = {"file": path, "name": str(record.get("name")), "model": str(record["model"]),
           "task": str(record["task"]), "method": str(record["method"]), "seed": record["seed"],
           "variant": _variant(path, record), "state": STATES[record["status"]],
           "family": str(record.get("family")), "config_fingerprint": fingerprint.get("config"),
           "data_fingerprint": fingerprint.get("data"),
           "finished_at": str(record.get("finished_at") or ""), "metric": None, "value": math.nan,
           "available": ()}
    if record["status"] != "completed":
        return row
    scores = _field(record, f"metrics.{SOURCES[split]}", path) or {}  # null: hidden test labels
    name = metric or _field(record, "main_metric", path)
    value = scores.get(name) if isinstance(scores, dict) else None
    if not isinstance(scores, dict) or not isinstance(value, (int, float, type(None))):
        raise BadRecord(path, f"metrics.{SOURCES[split]}.{name} is not a number")
    return {**row, "metric": name, "value": math.nan if value is None else float(value),
            "available": tuple(scores),
            "trainable_fraction": _number(record, "params.trainable_fraction", path),
            "peak_memory_bytes": _number(record, "memory.peak_memory_bytes", path),
            "memory_kind": record["memory"].get("memory_kind"),
            "train_seconds": _number(record, "time.train_seconds", path)}


def _field(record: Dict[str, Any], dotted: str, path: Path) -> Any:
    value: Any = record
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            raise BadRecord(path, f"completed run without {dotted}")
        value = value[key]
    return value


def _number(record: Dict[str, Any], dotted: str, path: Path) -> float:
    value = _field(record, dotted, path)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRecord(path, f"{dotted} is not a number")
    return float(value)


def _variant(path: Path, record: Dict[str, Any]) -> str:
    """A sweep's other overrides: the run dir's path below <method>/seed<seed>/ ('' for none)."""
    parts = path.parent.parts
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == record["method"] and parts[i + 1] == f"seed{record['seed']}":
            return "/".join(parts[i + 2:])
    return ""


def gather(inputs: Sequence[Path], split: str,
           metric: Optional[str]) -> Tuple[pd.DataFrame, int, List[BadRecord]]:
    """All readable runs under the inputs, one row per seed of a cell; also how many duplicates
    were dropped, and the results.json that could not be read: one bad file must not hide the rest."""
    rows, unreadable = [], []
    for path in find_results(inputs):
        try:
            rows.append(load_run(path, split, metric))
        except BadRecord as bad:
            unreadable.append(bad)
    if not rows:
        more = f" (and {len(unreadable) - 1} more)" if len(unreadable) > 1 else ""
        raise PtlabError(f"no readable run record among {len(unreadable)} {RESULTS}: "
                         f"{unreadable[0].path}: {unreadable[0].reason}{more}")
    runs = pd.DataFrame(rows)
    for column in ("trainable_fraction", "peak_memory_bytes", "memory_kind", "train_seconds"):
        if column not in runs:
            runs[column] = math.nan  # no completed run at all
    # A column per method, plus the sweep's other overrides and (when experiments are mixed) the
    # experiment name, so runs with different settings are never averaged together.
    runs["column"] = runs["method"] + runs["variant"].map(lambda v: f" [{v}]" if v else "")
    if runs["name"].nunique() > 1:
        runs["column"] = runs["name"] + ": " + runs["column"]
    method_rank = runs["method"].map(lambda m: METHOD_ORDER.index(m) if m in METHOD_ORDER else len(METHOD_ORDER))
    ordered = runs.assign(r=method_rank).sort_values(["r", "method", "name", "variant"])["column"].unique()
    runs["rank"] = runs["column"].map({column: i for i, column in enumerate(ordered)})
    _check_metric(runs, split, metric)
    # The same run copied from two machines, or re-run elsewhere after failing, is one seed:
    # a completed record wins, then the latest one.
    runs = runs.assign(unfinished=runs["state"] != "completed").sort_values(
        ["unfinished", "finished_at"], ascending=[True, False])
    duplicate = runs.duplicated(["model", "task", "column", "seed"])
    for path in runs.loc[duplicate, "file"]:
        print(f"ptlab-report: warning: {path} repeats a run (model, task, method, seed) that is "
              f"already counted; ignored", file=sys.stderr)
    return runs[~duplicate], int(duplicate.sum()), unreadable


def _check_metric(runs: pd.DataFrame, split: str, metric: Optional[str]) -> None:
    """One metric per task, and a --metric that some run actually has."""
    for task, names in runs.dropna(subset=["metric"]).groupby("task")["metric"].unique().items():
        if len(names) > 1:
            raise PtlabError(f"runs of task {task} disagree on the main metric ({', '.join(sorted(names))}); "
                             f"choose one with --metric")
    available = sorted(set().union(*runs["available"]))
    if metric and available and metric not in available:
        raise PtlabError(f"metric {metric!r} is in no run's {split} metrics (they have {', '.join(available)})")


def columns_of(runs: pd.DataFrame) -> List[str]:
    """The table's method columns, fewest trained parameters first."""
    return list(runs.sort_values("rank")["column"].unique())


def summarize(runs: pd.DataFrame, split: str) -> pd.DataFrame:
    """One row per model x task x method column, including `missing` ones, with its table cell."""
    columns = columns_of(runs)
    metrics = runs.dropna(subset=["metric"]).groupby("task")["metric"].first()
    method_of = dict(zip(runs["column"], runs["method"]))
    rows = []
    for (model, task), runs_mt in runs.groupby(["model", "task"], sort=True):
        for column in columns:
            cell = runs_mt[runs_mt["column"] == column]
            done = cell[cell["state"] == "completed"]
            values = done["value"].dropna()
            rows.append({
                "model": model, "task": task, "metric": metrics.get(task, "–"), "method": column,
                "mean": values.mean(), "std": values.std(ddof=1), "n": len(values),
                "n_failed": int((cell["state"] == "failed").sum()),
                "n_incomplete": int((cell["state"] == "incomplete").sum()),
                "n_without_metric": int(done["value"].isna().sum()),
                "trainable_fraction": done["trainable_fraction"].mean(),
                "peak_memory_bytes": done["peak_memory_bytes"].mean(),
                "memory_kind": ", ".join(sorted(done["memory_kind"].dropna().unique())),
                "train_seconds": done["train_seconds"].mean(), "mixes": mixes(done),  # what the mean averages
            })
            if rows[-1]["n"] + rows[-1]["n_failed"] + rows[-1]["n_incomplete"] == 0 and \
                    method_of[column] == "zero_shot" and set(runs_mt["family"]) == {"encoder"}:
                rows[-1]["not_applicable"] = True  # ptlab-train skips zero-shot on encoders
    table = pd.DataFrame(rows)
    table["cell"] = [cell_text(row, split) for row in table.itertuples()]
    return table


def _figure(ncols: int = 1, width: float = 7.0):
    """A figure drawn by Agg directly, so no pyplot/global backend state is touched."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols, sharey=True, squeeze=False)[0]


def _colors(columns: Sequence[str]) -> Dict[str, str]:
    from matplotlib import rcParams

    cycle = rcParams["axes.prop_cycle"].by_key()["color"]
    return {column: cycle[i % len(cycle)] for i, column in enumerate(columns)}


def plot_metric_vs_params(table: pd.DataFrame, task: str, split: str, colors: Dict[str, str], path: Path) -> None:
    """Mean ± std of the metric against the trainable fraction; zero trainable sits at ZERO_FLOOR."""
    rows = table[(table["task"] == task) & (table["n"] > 0)]
    models = sorted(rows["model"].unique())
    fig, (ax,) = _figure()
    for row in rows.itertuples():
        x = row.trainable_fraction if row.trainable_fraction > 0 else ZERO_FLOOR
        marker = "osD^v<>ph*"[models.index(row.model) % 10]
        ax.errorbar(x, 100 * row.mean, yerr=0 if math.isnan(row.std) else 100 * row.std, fmt=marker,
                    color=colors[row.method], capsize=3,
                    label=f"{row.method} · {row.model}" if len(models) > 1 else row.method)
        if row.trainable_fraction == 0:
            ax.annotate(f"{row.method} (0 trainable, at {ZERO_FLOOR:g})", (x, 100 * row.mean), xytext=(6, 4),
                        textcoords="offset points", fontsize=7)
    ax.set_xscale("log")
    floor = f"; 0 is drawn at {ZERO_FLOOR:g}" if (rows["trainable_fraction"] == 0).any() else ""
    ax.set_xlabel(f"trainable parameters (fraction of total, log scale{floor})")
    ax.set_ylabel(f"{rows['metric'].iloc[0]} ×100 ({split}, mean ± std over seeds)")
    ax.set_title(f"{task}: {rows['metric'].iloc[0]} vs trainable parameters")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=120)


def plot_val_curves(runs: pd.DataFrame, task: str, metric: str, colors: Dict[str, str], path: Path) -> bool:
    """Validation curves per method from each run's metrics.csv: the mean over seeds at the steps
    they all validated at, each seed thinly; a single validation (zero-shot) as a dashed level."""
    columns = columns_of(runs)
    runs = runs[(runs["task"] == task) & (runs["state"] == "completed")]
    models = sorted(runs["model"].unique())
    fig, axes = _figure(len(models), width=6.0 if len(models) > 1 else 7.0)
    drawn = False
    for ax, model in zip(axes, models):
        for column in columns:
            seeds = {}
            for run in runs[(runs["model"] == model) & (runs["column"] == column)].itertuples():
                curve = read_val_curve(run.file.parent / "metrics.csv", metric)
                if curve is None:
                    print(f"ptlab-report: warning: no val/{metric} curve in {run.file.parent / 'metrics.csv'}",
                          file=sys.stderr)
                else:
                    seeds[run.seed] = 100 * curve
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
            ax.plot(aligned if len(aligned) else frame.iloc[:0, 0], color=colors[column], marker="o",
                    ms=3, label=label if len(aligned) else f"{column} (seeds not aligned)")
        ax.set_title(model)
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel(f"val {metric} ×100")
    fig.suptitle(f"{task}: validation {metric} (thin: single seeds; dashed: one validation only)", fontsize=10)
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


def report(inputs: Sequence[Path], out: Path, metric: Optional[str], split: str) -> Tuple[str, List[Path]]:
    """Gather, summarize and write every report file; returns the Markdown and the paths written."""
    if out.exists() and not out.is_dir():
        raise PtlabError(f"--out {out} is a file, not a directory")
    runs, duplicates, unreadable = gather(inputs, split, metric)
    table = summarize(runs, split)
    states = runs["state"].value_counts()
    metrics = ", ".join(f"{task}: {m}" for task, m in table.groupby("task")["metric"].first().items())
    header, rows = main_table(table)
    text = "\n".join([
        "# ptlab report", "",
        f"- metric: {f'{metric} (--metric)' if metric else 'main metric of each task'} ({metrics}), ×100; "
        f"cells are mean ± sample std (ddof=1) over seeds, n = seeds averaged",
        f"- split: {split} (`metrics.{SOURCES[split]}` of results.json)",
        f"- runs read: {len(runs)} ({states.get('completed', 0)} completed, {states.get('failed', 0)} failed, "
        f"{states.get('incomplete', 0)} incomplete"
        + (f"; {duplicates} duplicate records ignored" if duplicates else "")
        + (f"; {len(unreadable)} unreadable {RESULTS} listed below" if unreadable else "") + ")",
        f"- from: {', '.join(map(str, inputs))}", "",
        markdown(header, rows), "",
        *notes(table, [(bad.path, bad.reason) for bad in unreadable]),
        "## Cost (completed runs, mean over seeds)", "",
        markdown(*cost_table(table)), "",
    ])
    note = f"ptlab-report: {metrics} x100 on {split}, mean $\\pm$ sample std over seeds"
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = [out / "report.md", out / "report.csv", out / "report.tex"]
        written[0].write_text(text)
        table.to_csv(written[1], index=False)
        written[2].write_text(latex(header, rows, [note, *mixed_notes(table)]))
        colors = _colors(columns_of(runs))
        for task in table["task"].unique():
            stem = re.sub(r"[^\w.-]", "_", task)
            if (table[table["task"] == task]["n"] > 0).any():
                plot_metric_vs_params(table, task, split, colors, out / f"{stem}_metric_vs_params.png")
                written.append(out / f"{stem}_metric_vs_params.png")
                task_metric = table[table["task"] == task]["metric"].iloc[0]
                if plot_val_curves(runs, task, task_metric, colors, out / f"{stem}_val_curves.png"):
                    written.append(out / f"{stem}_val_curves.png")
    except OSError as err:
        raise PtlabError(f"cannot write the report to {out}: {err}") from None
    return text, written


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Console script `ptlab-report` (same as `python -m ptlab.report`)."""
    parser = argparse.ArgumentParser(prog="ptlab-report", description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="+", type=Path, metavar="DIR",
                        help="run or sweep directories, searched recursively for results.json")
    parser.add_argument("--out", type=Path, help="where to write the report files (default: the first DIR)")
    parser.add_argument("--metric", help="metric to compare (default: each task's main_metric)")
    parser.add_argument("--split", choices=sorted(SOURCES), default="val",
                        help="val: the best checkpoint's validation score (metrics.val_best, default; "
                             "chosen on that same set); val_final: the last step's; test: metrics.test")
    args = parser.parse_args(argv)
    try:
        text, written = report(args.dirs, args.out or args.dirs[0], args.metric, args.split)
    except PtlabError as err:
        parser.exit(2, f"ptlab-report: error: {err}\n")
    print(text)
    for path in written:
        print(f"ptlab-report: wrote {path}")


if __name__ == "__main__":
    main()
