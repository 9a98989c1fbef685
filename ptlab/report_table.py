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
    """`mean ± std (n=K, F failed)` x100; no ± for one seed; `failed (n=F)`; `missing`; MARK if mixed."""
    counts = [(row.n_failed, "failed"), (row.n_incomplete, "incomplete"), (row.n_without_metric, f"no {split} metric")]
    if isinstance(getattr(row, "not_applicable", None), str):
        return f"n/a ({row.not_applicable})"
    if row.n:
        value = f"{100 * row.mean:.1f}" + (f" ± {100 * row.std:.1f}" if row.n > 1 else "")
        text = f"{value} ({', '.join([f'n={row.n}'] + [f'{k} {what}' for k, what in counts if k])})"
    else:
        text = ", ".join(f"{what} (n={k})" for k, what in counts if k) or "missing"
    return text + (MARK if row.mixes else "")


def main_table(table: pd.DataFrame) -> Tuple[List[str], List[List[str]]]:
    columns = list(dict.fromkeys(table["method"]))
    wide = table.pivot(index=["model", "task", "metric"], columns="method", values="cell")
    rows = [
        [model, f"{task} ({metric})", *wide.loc[(model, task, metric), columns]] for model, task, metric in wide.index
    ]
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
        return re.sub(r"[\\&%$#_{}~^†]", lambda m: LATEX_ESCAPES[m.group()], str(text)).replace("±", r"$\pm$")

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
