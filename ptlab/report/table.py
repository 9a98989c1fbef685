"""ptlab-report's tables as text (cells, Markdown, LaTeX) and the notes under them: what a cell
cannot say itself, i.e. which cells average runs of different configs or data, and which
results.json files could not be read and so are in no cell.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, List, Sequence, Tuple

import pandas as pd

from ptlab.report.baselines import COLUMN, LEGEND, counts as baseline_counts
from ptlab.report.scale import Scale, task_label
from ptlab.report.seeds import Comparison

MARK = "†"  # a cell whose runs differ in their config or data fingerprint
FINGERPRINTS = (("config", "configs"), ("data", "data sets"))
LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    MARK: r"\dag{}",
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
    "≡": r"$\equiv$",
}


def mixes(cell: pd.DataFrame) -> str:
    """What the runs of one cell differ in ('' when nothing), with the run dirs per fingerprint.

    Seeds of one configuration on one data set share both fingerprints, so two of either in a
    cell mean its mean ± std averages different experiments. A record without fingerprints
    (written before they existed) is unknown: listed, never counted as a difference.
    """
    parts = []
    for kind, plural in FINGERPRINTS:
        column = cell[f"{kind}_fingerprint"]
        known = sorted(column.dropna().unique())
        if len(known) < 2:
            continue
        groups = [(value, cell.loc[column == value, "file"]) for value in known]
        groups += [("unknown", cell.loc[column.isna(), "file"])] if column.isna().any() else []
        parts.append(
            f"{len(known)} {plural}: "
            + "; ".join(f"{value} ({', '.join(sorted(str(path.parent) for path in files))})" for value, files in groups)
        )
    return "; ".join(parts)


def cell_text(row: Any, split: str) -> str:
    """`mean ± std [95 % CI] (n=K, F failed)` on the metric's scale (the row's); no ± nor CI for one
    seed; `failed (n=F)`; `missing`; MARK if mixed."""
    scale = Scale.of(row)
    counts = [(row.n_failed, "failed"), (row.n_incomplete, "incomplete"), (row.n_without_metric, f"no {split} metric")]
    if isinstance(getattr(row, "not_applicable", None), str):
        return f"n/a ({row.not_applicable})"
    if row.n:
        value = scale(row.mean) + (f" ± {scale(row.std)}" if row.n > 1 else "")
        low, high = getattr(row, "ci_low", math.nan), getattr(row, "ci_high", math.nan)
        value += "" if math.isnan(low) else f" [{scale(low)}, {scale(high)}]"
        counts += baseline_counts(row)  # of the n runs: collapsed to one answer, below the baseline
        text = f"{value} ({', '.join([f'n={row.n}'] + [f'{k} {what}' for k, what in counts if k])})"
    else:
        text = ", ".join(f"{what} (n={k})" for k, what in counts if k) or "missing"
    return text + (MARK if row.mixes else "")


def main_table(table: pd.DataFrame) -> Tuple[List[str], List[List[str]]]:
    columns = list(dict.fromkeys(table["method"]))
    wide = table.pivot(index=["model", "task", "metric"], columns="method", values="cell")
    scales = {r.task: Scale.of(r) for r in table.itertuples()}
    rows = [
        [model, task_label(task, metric, scales[task]), *wide.loc[(model, task, metric), columns]]
        for model, task, metric in wide.index
    ]
    if "baseline_cell" in table and table["baseline_cell"].fillna("").any():  # records before schema 4: none
        shown = table.groupby(["model", "task", "metric"])["baseline_cell"].first()
        return ["model", "task (metric)", *columns, COLUMN], [[*row, shown[key]] for row, key in zip(rows, wide.index)]
    return ["model", "task (metric)", *columns], rows


def cost_table(table: pd.DataFrame) -> Tuple[List[str], List[List[str]]]:
    done = table[table["trainable_fraction"].notna()]
    rows = [
        [
            r.model,
            r.task,
            r.method,
            _num(100 * r.trainable_fraction, ".3g"),
            _num(r.peak_memory_bytes / 1e9, ".2f"),
            r.memory_kind,
            _num(r.train_seconds, ".1f"),
        ]
        for r in done.itertuples()
    ]
    return ["model", "task", "method", "trainable %", "peak memory (GB)", "memory kind", "train time (s)"], rows


def _num(value: float, spec: str) -> str:
    return "–" if math.isnan(value) else format(value, spec)


def mixed_notes(table: pd.DataFrame) -> List[str]:
    """One line per MARKed cell: which cell, what differs, and the run dirs of each fingerprint."""
    return [f"{MARK} {r.model}/{r.task}/{r.method} mixes {r.mixes}" for r in table[table["mixes"] != ""].itertuples()]


def notes(table: pd.DataFrame, unreadable: Sequence[Tuple[Path, str]]) -> List[str]:
    """Markdown lines for under the main table: mixed cells, then the results.json left out."""
    lines, mixed = [], mixed_notes(table)
    if "baseline_cell" in table and table["baseline_cell"].fillna("").any():
        lines += [LEGEND, ""]
    if mixed:
        lines += [
            f"{MARK}: the runs averaged in a cell differ in results.json's `fingerprint` "
            "(seeds of one configuration share it)",
            "",
        ]
        lines += [f"- {line}" for line in mixed] + [""]
    if unreadable:
        lines += [f"## Unreadable results.json, not in the table ({len(unreadable)})", ""]
        lines += [f"- {path}: {reason}" for path, reason in unreadable] + [""]
    return lines


def markdown(header: List[str], rows: List[List[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows])


def latex(header: List[str], rows: List[List[str]], comments: Sequence[str]) -> str:
    def tex(text: str) -> str:
        return (
            re.sub(r"[\\&%$#_{}~^†↑↓≡]", lambda m: LATEX_ESCAPES[m.group()], str(text))
            .replace("±", r"$\pm$")
            .replace("≈", r"$\approx$")
        )

    lines = [f"% {line}" for line in comments]
    lines += [
        "% needs \\usepackage{booktabs}",
        f"\\begin{{tabular}}{{ll{'c' * (len(header) - 2)}}}",
        "\\toprule",
        " & ".join(map(tex, header)) + r" \\",
        "\\midrule",
    ]
    lines += [" & ".join(map(tex, row)) + r" \\" for row in rows]
    return "\n".join(lines + ["\\bottomrule", "\\end{tabular}", ""])


def _p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _interval(test: Any, scale: Scale) -> str:
    return f"{scale(test.delta, True)} [{scale(test.low, True)}, {scale(test.high, True)}]"


def verdict(test: Comparison, scale: Scale) -> str:
    """The verdict in words, with the margin it was tested against (in points of the shown numbers)."""
    return f"equivalent (±{scale.factor * test.margin:g})" if test.verdict == "equivalent" else test.verdict


def seeds(test: Comparison) -> str:
    a, b = test.seeds
    return f"{a} vs {b}" + ("" if test.covers_training else ": 1 seed, training variance not covered")


def _cells(test: Any, scale: Scale) -> List[str]:
    """A comparison as the significance table's cells: Δ [CI], p Holm, p raw, verdict, seeds, and
    the examples-only Δ [CI] and p, on the metric's `scale`; n/a for an untested pair."""
    if isinstance(test, str):
        return ["n/a"] * 7
    return [
        _interval(test, scale),
        _p(test.p_holm),
        _p(test.p),
        verdict(test, scale),
        seeds(test),
        _interval(test.examples, scale),
        _p(test.examples.p),
    ]


SIGNIFICANCE_HEADER = [
    "Δ [95% CI]",
    "p (Holm)",
    "p",
    "verdict",
    "seeds",
    "examples only: Δ [95% CI]",
    "examples only: p",
]


def significance_table(sig: pd.DataFrame, table: pd.DataFrame) -> Tuple[List[str], List[List[str]]]:
    """A row per comparison: each column against the row's reference, then against zero-shot."""
    cells = table.set_index(["model", "task", "method"])
    rows = []
    for r in sig.itertuples():
        row = cells.loc[(r.model, r.task, r.method)]
        for versus, test in (("reference", r.vs_reference), ("zero-shot", r.vs_zero_shot)):
            if isinstance(test, (Comparison, str)):
                rows.append([r.model, r.task, r.method, row["cell"], versus, *_cells(test, Scale.of(row))])
    return ["model", "task", "method", "cell", "vs", *SIGNIFICANCE_HEADER], rows


def significance_notes(sig: pd.DataFrame) -> List[str]:
    """Which columns each model x task compares with, and every n/a pair grouped by its reason."""
    lines = []
    for (model, task), group in sig.groupby(["model", "task"], sort=False):
        tested = [b for b in [*group["vs_reference"], *group["vs_zero_shot"]] if isinstance(b, Comparison)]
        examples = f", {tested[0].n} examples" if tested else ""
        reference, zero = (
            group[k].iloc[0] if isinstance(group[k].iloc[0], str) else None for k in ("reference", "zero_shot")
        )
        lines.append(
            f"- {model}/{task}: reference = {reference or 'none (no validation score)'}, "
            f"zero-shot = {zero or 'none ran'}{examples}"
        )
    reasons: dict = {}
    for r in sig.itertuples():
        for what, result in (("reference", r.vs_reference), ("zero-shot", r.vs_zero_shot)):
            if isinstance(result, str):
                reasons.setdefault(result, []).append(f"{r.model}/{r.task}/{r.method} vs {what}")
    lines += [f"- n/a ({', '.join(pairs)}): {reason}" for reason, pairs in reasons.items()]
    return lines


def tuned_table(picks: pd.DataFrame, picked: pd.DataFrame, sig: pd.DataFrame) -> Tuple[List[str], List[List[str]]]:
    """A row per pick: its variant, the validation mean it was chosen by and on which seeds, its
    cell over the other (fresh) seeds, and its comparison with the reference pick."""
    cells = picked.set_index(["model", "task", "method"])
    tests = sig.set_index(["model", "task", "method"])["vs_reference"] if len(sig) else pd.Series(dtype=object)
    rows = []
    for r in picks.itertuples():
        row = cells.loc[(r.model, r.task, r.column)]
        test, scale = tests.get((r.model, r.task, r.column)), Scale.of(row)
        rows.append(
            [
                r.model,
                task_label(r.task, row["metric"], scale),
                r.base,
                r.variant or "(default)",
                str(r.variants),
                scale(r.select),
                ", ".join(map(str, r.tuning_seeds)) or "–",
                row["cell"],
                *(_cells(test, scale)[:4] if isinstance(test, (Comparison, str)) else ["–"] * 4),
            ]
        )
    header = [
        "model",
        "task (metric)",
        "method",
        "chosen variant",
        "variants",
        "val_best (selection)",
        "tuned on seeds",
    ]
    return header + ["reported (fresh seeds)", "Δ vs reference pick [95% CI]", "p (Holm)", "p", "verdict"], rows
