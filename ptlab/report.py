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
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from ptlab.errors import PtlabError
from ptlab.report_gather import SOURCES, gather, summarize
from ptlab.report_plots import write_plots, write_template_plots
from ptlab.report_table import cost_table, latex, main_table, markdown, mixed_notes, notes
from ptlab.report_templates import agreement, latex_section, per_template, section, spread, tables
from ptlab.run_dir import RESULTS


def report(inputs: Sequence[Path], out: Path, metric: Optional[str], split: str) -> Tuple[str, List[Path]]:
    """Gather, summarize and write every report file; returns the Markdown and the paths written."""
    if out.exists() and not out.is_dir():
        raise PtlabError(f"--out {out} is a file, not a directory")
    runs, duplicates, unreadable = gather(inputs, split, metric)
    table = summarize(runs, split)
    states = runs["state"].value_counts()
    metrics = ", ".join(f"{task}: {m}" for task, m in table.groupby("task")["metric"].first().items())
    header, rows = main_table(table)
    per = per_template(runs)  # empty unless some method ran with two templates or more
    stats, taus = spread(per), agreement(per)
    sensitivity = tables(stats, taus, table.groupby("task")["metric"].first().to_dict()) if len(per) else []
    text = "\n".join(
        [
            "# ptlab report",
            "",
            f"- metric: {f'{metric} (--metric)' if metric else 'main metric of each task'} ({metrics}), ×100; "
            f"cells are mean ± sample std (ddof=1) over seeds, n = seeds averaged",
            f"- split: {split} (`metrics.{SOURCES[split]}` of {RESULTS})",
            f"- runs read: {len(runs)} ({states.get('completed', 0)} completed, {states.get('failed', 0)} failed, "
            f"{states.get('incomplete', 0)} incomplete"
            + (f"; {duplicates} duplicate records ignored" if duplicates else "")
            + (f"; {len(unreadable)} unreadable {RESULTS} listed below" if unreadable else "")
            + ")",
            f"- from: {', '.join(map(str, inputs))}",
            "",
            markdown(header, rows),
            "",
            *notes(table, [(bad.path, bad.reason) for bad in unreadable]),
            *(section(sensitivity) if sensitivity else []),
            "## Cost (completed runs, mean over seeds)",
            "",
            markdown(*cost_table(table)),
            "",
        ]
    )
    note = f"ptlab-report: {metrics} x100 on {split}, mean $\\pm$ sample std over seeds"
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = [out / "report.md", out / "report.csv", out / "report.tex"]
        written[0].write_text(text)
        table.to_csv(written[1], index=False)
        written[2].write_text(latex(header, rows, [note, *mixed_notes(table)]))
        written += write_plots(runs, table, split, out)
        if sensitivity:
            written += [out / "prompt_sensitivity.csv", out / "prompt_sensitivity.tex"]
            stats.to_csv(written[-2], index=False)
            written[-1].write_text(latex_section(sensitivity, split))
            written += write_template_plots(per, table, split, out)
    except OSError as err:
        raise PtlabError(f"cannot write the report to {out}: {err}") from None
    return text, written


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
        default="val",
        help="val: the best checkpoint's validation score (metrics.val_best, default; "
        "chosen on that same set); val_final: the last step's; test: metrics.test",
    )
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
