"""ptlab-report: one comparison table, and plots, from the results.json of runs and sweeps.

    ptlab-report <run or sweep dirs...> [--out DIR] [--metric NAME] [--split test|val|val_final]

Runs may come from several machines copied together or from a sweep that is still partial, so
every run found is accounted for: a cell says how many seeds it averages and how many failed or
are unfinished, a method that never ran for a model x task says `missing`, a cell whose runs differ
in config or data fingerprint is marked, and a results.json that cannot be read is listed under the
table instead of stopping the report. Each cell has a 95 % t-interval over seeds, columns are
compared by paired bootstrap over the reported examples (ptlab/report_stats.py), and where a method
ran several variants (an lr sweep) a tuned table picks one per method on validation, never on the
reported split.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pandas as pd

from ptlab.errors import PtlabError
from ptlab.report_gather import SOURCES, gather, summarize
from ptlab.report_plots import write_plots, write_template_plots
from ptlab.report_stats import ALPHA, marks, significance, significance_columns, tuned, unpicked
from ptlab.report_table import (
    cost_table,
    latex,
    main_table,
    markdown,
    mixed_notes,
    notes,
    significance_notes,
    significance_table,
    tuned_table,
)
from ptlab.report_templates import agreement, latex_section, per_template, section, spread, tables
from ptlab.run_dir import RESULTS


class NoTestSplit(PtlabError):
    """--split test over runs of tasks that declare no test split."""


def report(inputs: Sequence[Path], out: Path, metric: Optional[str], split: str) -> Tuple[str, List[Path]]:
    """Gather, summarize and write every report file; returns the Markdown and the paths written."""
    if out.exists() and not out.is_dir():
        raise PtlabError(f"--out {out} is a file, not a directory")
    runs, duplicates, unreadable = gather(inputs, split, metric)
    done = runs["state"] == "completed"
    if split == "test" and done.any() and runs.loc[done, "value"].isna().all():
        raise NoTestSplit(
            "no run has test metrics (metrics.test is null: no labelled test split); "
            "report the selected checkpoints' validation scores with --split val"
        )
    table = summarize(runs, split)
    sig = significance(table, runs, split)
    picks = tuned(runs)
    chosen = set(zip(picks["model"], picks["task"], picks["column"]))
    picked = table[[key in chosen for key in zip(table["model"], table["task"], table["method"])]]
    tuned_sig = significance(picked, runs, split)
    plain = table["cell"]
    table["cell"] = _marked(table, marks(sig))
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
            *(_significance(sig, table, split) if len(sig) else []),
            *(
                _tuned(runs, picks, picked.assign(cell=_marked(picked, marks(tuned_sig))), tuned_sig, split)
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
    note = (
        f"ptlab-report: {metrics} x100 on {split}, mean $\\pm$ sample std [95% t-interval] over seeds; "
        f"$\\approx$: not significantly different from the row's best (paired bootstrap, p >= {ALPHA})"
    )
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = [out / "report.md", out / "report.csv", out / "report.tex"]
        written[0].write_text(text)
        csv = table.assign(cell=plain)
        if len(sig):
            csv = csv.merge(significance_columns(sig), on=["model", "task", "method"], how="left")
        csv.to_csv(written[1], index=False)
        written[2].write_text(latex(header, rows, [note, *mixed_notes(table)]))
        written += write_plots(runs, table, split, out, picks)
        if sensitivity:
            written += [out / "prompt_sensitivity.csv", out / "prompt_sensitivity.tex"]
            stats.to_csv(written[-2], index=False)
            written[-1].write_text(latex_section(sensitivity, split))
            written += write_template_plots(per, table, split, out)
        if len(picks):
            written.append(out / "tuned.csv")
            _tuned_csv(picks, picked, tuned_sig).to_csv(written[-1], index=False)
    except OSError as err:
        raise PtlabError(f"cannot write the report to {out}: {err}") from None
    return text, written


REPORTED = {
    "test": "test",
    "val": "validation, the selected checkpoint's score (selected on this same set: optimistic for trained methods)",
    "val_final": "validation, the last step's score (no checkpoint selection)",
}
LEGEND = (
    "[a, b]: 95 % Student-t interval of the mean over seeds (none for one seed). "
    f"≈: not significantly different from the best column of its row (paired bootstrap over the "
    f"reported examples, p ≥ {ALPHA}); a cell without ≈ differs significantly, unless the Significance "
    "section says n/a (no per-example scores to pair)."
)


def _marked(table: pd.DataFrame, mark: Dict[Tuple[str, str, str], str]) -> List[str]:
    return [c + mark.get(k, "") for c, k in zip(table["cell"], zip(table["model"], table["task"], table["method"]))]


def _significance(sig: pd.DataFrame, table: pd.DataFrame, split: str) -> List[str]:
    return [
        "## Significance",
        "",
        f"Paired bootstrap (10,000 resamples) over the {split} examples, each column's per-example score "
        "averaged over its seeds; Δ = column − best (highest mean) or − zero-shot, ×100, with its 95 % "
        "percentile interval and two-sided p. Seeds' spread is in the cells; this is the examples' share.",
        "",
        markdown(*significance_table(sig, table)),
        "",
        *significance_notes(sig),
        "",
    ]


def _tuned(runs: pd.DataFrame, picks: pd.DataFrame, picked: pd.DataFrame, sig: pd.DataFrame, split: str) -> List[str]:
    honest = {
        "test": "the test scores play no part in the choice",
        "val": "--split val reports the very scores chosen on, so these are optimistic: report test to separate them",
        "val_final": "the reported last-step scores are of the same validation set, so not independent of the choice",
    }[split]
    return [
        f"## Tuned: best configuration per method, chosen on validation, reported on {split}",
        "",
        "Per model × task × method, the variant with the highest mean `metrics.val_best` (main metric) over its "
        f"seeds; {honest}. Every variant counts as a configuration to choose, a template or data setting "
        "included. ≈ and Δ as above, among these picks.",
        "",
        markdown(*tuned_table(picks, picked, sig)),
        "",
        *[f"- {line}" for line in unpicked(runs, picks)],
        *(significance_notes(sig) + [""] if len(sig) else []),
    ]


def _tuned_csv(picks: pd.DataFrame, picked: pd.DataFrame, sig: pd.DataFrame) -> pd.DataFrame:
    rows = picked.set_index(["model", "task", "method"])
    tests = sig.set_index(["model", "task", "method"])["vs_best"] if len(sig) else pd.Series(dtype=object)
    out = []
    for r in picks.itertuples():
        row, test = rows.loc[(r.model, r.task, r.column)], tests.get((r.model, r.task, r.column))
        out.append(
            {
                "model": r.model,
                "task": r.task,
                "method": r.base,
                "variant": r.variant,
                "variants": r.variants,
                "val_best_mean": r.select,
                **{k: row[k] for k in ("metric", "mean", "std", "ci_low", "ci_high", "n")},
                "delta_vs_best": getattr(test, "delta", None),
                "p_vs_best": getattr(test, "p", None),
                "untested": test if isinstance(test, str) else "",
            }
        )
    return pd.DataFrame(out)


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
