"""ptlab-report: one comparison table, and plots, from the results.json of runs and sweeps.

    ptlab-report <run or sweep dirs...> [--out DIR] [--metric NAME] [--split test|val|val_final] [--margin POINTS]

Runs may come from several machines copied together or from a sweep that is still partial, so
every run found is accounted for: a cell says how many seeds it averages and how many failed or
are unfinished, a method that never ran for a model x task says `missing`, a cell whose runs differ
in config or data fingerprint is marked, and a results.json that cannot be read is listed under the
table instead of stopping the report. Each cell has a 95 % t-interval over seeds; columns are
compared with the row's reference (chosen on validation) and with zero-shot by a test that counts
seeds and examples (ptlab/report/compare.py, seeds.py), each read as better / worse /
equivalent within --margin / inconclusive; and where a method ran several variants (an lr sweep) a
tuned table picks one per method on validation and reports it over the seeds that did not choose it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pandas as pd

from ptlab.errors import PtlabError
from ptlab.report.compare import marks, significance, significance_columns
from ptlab.report.cells import summarize
from ptlab.report.gather import SOURCES, gather
from ptlab.report.html import write_html
from ptlab.report.plots import write_plots, write_template_plots
from ptlab.report.sections import LEGEND, MARGIN, latex_note, significance_section, tuned_csv, tuned_section
from ptlab.report.scale import Scale
from ptlab.report.stats import tuned, tuning_runs
from ptlab.report.table import cost_table, latex, main_table, markdown, mixed_notes, notes
from ptlab.report.templates import agreement, latex_section, per_template, section, spread, tables
from ptlab.run.directory import RESULTS


class NoTestSplit(PtlabError):
    """--split test over runs of tasks that declare no test split."""


def report(
    inputs: Sequence[Path], out: Path, metric: Optional[str], split: str, margin: float = MARGIN
) -> Tuple[str, List[Path]]:
    """Gather, summarize and write every report file; returns the Markdown and the paths written.
    `margin`: the equivalence margin, in points of the numbers shown (x100 for a [0, 1] metric)."""
    if out.exists() and not out.is_dir():
        raise PtlabError(f"--out {out} is a file, not a directory")
    if not margin > 0:
        raise PtlabError(f"--margin {margin} must be a positive number of points")
    runs, duplicates, unreadable = gather(inputs, split, metric)
    done = runs["state"] == "completed"
    if split == "test" and done.any() and runs.loc[done, "value"].isna().all():
        raise NoTestSplit(
            "no run has test metrics (metrics.test is null: no labelled test split); "
            "report the selected checkpoints' validation scores with --split val"
        )
    table = summarize(runs, split)
    sig = significance(table, runs, split, margin)
    picks = tuned(runs)
    tuning = tuning_runs(runs, picks)  # a pick's tuning seeds: its cell and tests leave them out
    chosen = set(zip(picks["model"], picks["task"], picks["column"]))
    fresh = summarize(runs, split, leave_out=tuning)
    picked = fresh[[key in chosen for key in zip(fresh["model"], fresh["task"], fresh["method"])]]
    tuned_sig = significance(picked, runs[~tuning], split, margin)
    plain = table["cell"]
    table["cell"] = _marked(table, marks(sig))
    states = runs["state"].value_counts()
    metrics = ", ".join(
        f"{r.task}: {r.metric}{_shown_as(Scale.of(r))}" for r in table.drop_duplicates("task").itertuples()
    )
    header, rows = main_table(table)
    per = per_template(runs)  # empty unless some method ran with two templates or more
    stats, taus = spread(per), agreement(per)
    sensitivity = tables(stats, taus, table) if len(per) else []
    text = "\n".join(
        [
            "# ptlab report",
            "",
            f"- metric: {f'{metric} (--metric)' if metric else 'main metric of each task'} ({metrics}); "
            f"cells are mean ± sample std (ddof=1) over seeds, n = seeds averaged",
            f"- selected on: validation (`metrics.val_best`: each run's checkpoint, and in the tuned table "
            f"each method's configuration); reported: {REPORTED[split]} (`metrics.{SOURCES[split]}` of {RESULTS})",
            f"- runs read: {len(runs)} ({states.get('completed', 0)} completed, {states.get('failed', 0)} failed, "
            f"{states.get('incomplete', 0)} incomplete"
            + (f"; {duplicates} duplicate records ignored" if duplicates else "")
            + (f"; {len(unreadable)} unreadable {RESULTS} listed below" if unreadable else "")
            + ")",
            f"- from: {', '.join(map(str, inputs))}",
            "",
            markdown(header, rows),
            "",
            LEGEND,
            "",
            *notes(table, [(bad.path, bad.reason) for bad in unreadable]),
            *(significance_section(sig, table, split, margin) if len(sig) else []),
            *(
                tuned_section(runs, picks, picked.assign(cell=_marked(picked, marks(tuned_sig))), tuned_sig, split)
                if len(picks)
                else []
            ),
            *(section(sensitivity) if sensitivity else []),
            "## Cost (completed runs, mean over seeds)",
            "",
            markdown(*cost_table(table)),
            "",
        ]
    )
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = [out / "report.md", out / "report.csv", out / "report.tex"]
        written[0].write_text(text)
        csv = table.assign(cell=plain)
        if len(sig):
            csv = csv.merge(significance_columns(sig), on=["model", "task", "method"], how="left")
        csv.to_csv(written[1], index=False)
        written[2].write_text(latex(header, rows, [latex_note(metrics, split, margin), *mixed_notes(table)]))
        written += write_plots(runs, table, split, out, picks)
        if sensitivity:
            written += [out / "prompt_sensitivity.csv", out / "prompt_sensitivity.tex"]
            stats.to_csv(written[-2], index=False)
            written[-1].write_text(latex_section(sensitivity, split))
            written += write_template_plots(per, table, split, out)
        if len(picks):
            written.append(out / "tuned.csv")
            tuned_csv(picks, picked, tuned_sig).to_csv(written[-1], index=False)
        written.append(write_html(text, runs, split, [p for p in written if p.suffix == ".png"], out))
    except OSError as err:
        raise PtlabError(f"cannot write the report to {out}: {err}") from None
    return text, written


REPORTED = {
    "test": "test",
    "val": "validation, the selected checkpoint's score (selected on this same set: optimistic for trained methods)",
    "val_final": "validation, the last step's score (no checkpoint selection)",
}


def _shown_as(scale: Scale) -> str:
    """How a task's numbers are shown: x100 (a metric in [0, 1]) or as recorded, and which way is better."""
    return (scale.unit or " as recorded") + ("" if scale.higher_is_better else ", lower is better")


def _marked(table: pd.DataFrame, mark: Dict[Tuple[str, str, str], str]) -> List[str]:
    return [c + mark.get(k, "") for c, k in zip(table["cell"], zip(table["model"], table["task"], table["method"]))]


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Console script `ptlab-report` (same as `python -m ptlab.report`)."""
    parser = argparse.ArgumentParser(prog="ptlab-report", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "dirs",
        nargs="+",
        type=Path,
        metavar="DIR",
        help=f"run or sweep directories, searched recursively for {RESULTS}",
    )
    parser.add_argument("--out", type=Path, help="where to write the report files (default: the first DIR)")
    parser.add_argument("--metric", help="metric to compare (default: each task's main_metric)")
    parser.add_argument(
        "--split",
        choices=sorted(SOURCES),
        default="test",
        help="test: metrics.test, the reported split (default); val: the selected checkpoint's "
        "validation score (metrics.val_best, chosen on that same set); val_final: the last step's",
    )
    parser.add_argument(
        "--margin",
        type=float,
        default=MARGIN,
        help=f"equivalence margin in points of the numbers shown (x100 for a [0, 1] metric; default {MARGIN:g}): "
        "two columns read `equivalent` when their difference is shown to lie within it",
    )
    args = parser.parse_args(argv)
    try:
        text, written = report(args.dirs, args.out or args.dirs[0], args.metric, args.split, args.margin)
    except PtlabError as err:
        parser.exit(2, f"ptlab-report: error: {err}\n")
    print(text)
    for path in written:
        print(f"ptlab-report: wrote {path}")
