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

from ptlab.report_stats import Bootstrap

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
    """`mean ± std [95 % CI] (n=K, F failed)` x100; no ± nor CI for one seed; `failed (n=F)`;
    `missing`; MARK if mixed."""
    counts = [(row.n_failed, "failed"), (row.n_incomplete, "incomplete"), (row.n_without_metric, f"no {split} metric")]
    if isinstance(getattr(row, "not_applicable", None), str):
        return f"n/a ({row.not_applicable})"
    if row.n:
        value = f"{100 * row.mean:.1f}" + (f" ± {100 * row.std:.1f}" if row.n > 1 else "")
        low, high = getattr(row, "ci_low", math.nan), getattr(row, "ci_high", math.nan)
        value += "" if math.isnan(low) else f" [{100 * low:.1f}, {100 * high:.1f}]"
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
        return (
            re.sub(r"[\\&%$#_{}~^†]", lambda m: LATEX_ESCAPES[m.group()], str(text))
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


def _delta(result: Any) -> Tuple[str, str]:
    """A Bootstrap as `Δ [low, high]` x100 and its p; `n/a` for an untested pair; `–` for none."""
    if isinstance(result, str):
        return "n/a", "n/a"
    if not isinstance(result, Bootstrap):  # None (pandas may read it as NaN): nothing to compare
        return "–", "–"
    p = "<0.001" if result.p < 0.001 else f"{result.p:.3f}"
    return f"{100 * result.delta:+.1f} [{100 * result.low:+.1f}, {100 * result.high:+.1f}]", p


def significance_table(sig: pd.DataFrame, table: pd.DataFrame) -> Tuple[List[str], List[List[str]]]:
    cells = table.set_index(["model", "task", "method"])["cell"]
    rows = [
        [r.model, r.task, r.method, cells[(r.model, r.task, r.method)], *_delta(r.vs_best), *_delta(r.vs_zero_shot)]
        for r in sig.itertuples()
    ]
    return [
        "model",
        "task",
        "method",
        "cell",
        "Δ vs best [95% CI]",
        "p vs best",
        "Δ vs zero-shot [95% CI]",
        "p vs zero-shot",
    ], rows


def significance_notes(sig: pd.DataFrame) -> List[str]:
    """Which columns each model x task compares with, and every n/a pair grouped by its reason."""
    lines = []
    for (model, task), group in sig.groupby(["model", "task"], sort=False):
        tested = [b for b in [*group["vs_best"], *group["vs_zero_shot"]] if isinstance(b, Bootstrap)]
        examples = f", {tested[0].n} examples" if tested else ""
        zero = group["zero_shot"].iloc[0] if isinstance(group["zero_shot"].iloc[0], str) else "none ran"
        lines.append(f"- {model}/{task}: best = {group['best'].iloc[0]}, zero-shot = {zero}{examples}")
    reasons: dict = {}
    for r in sig.itertuples():
        for what, result in (("best", r.vs_best), ("zero-shot", r.vs_zero_shot)):
            if isinstance(result, str):
                reasons.setdefault(result, []).append(f"{r.model}/{r.task}/{r.method} vs {what}")
    lines += [f"- n/a ({', '.join(pairs)}): {reason}" for reason, pairs in reasons.items()]
    return lines


def tuned_table(picks: pd.DataFrame, picked: pd.DataFrame, sig: pd.DataFrame) -> Tuple[List[str], List[List[str]]]:
    """A row per pick: its variant, the validation mean it was chosen by, its reported cell, Δ vs the best pick."""
    cells = picked.set_index(["model", "task", "method"])
    tests = sig.set_index(["model", "task", "method"])["vs_best"] if len(sig) else pd.Series(dtype=object)
    rows = []
    for r in picks.itertuples():
        row = cells.loc[(r.model, r.task, r.column)]
        rows.append(
            [
                r.model,
                f"{r.task} ({row['metric']})",
                r.base,
                r.variant or "(default)",
                str(r.variants),
                f"{100 * r.select:.1f}",
                row["cell"],
                *_delta(tests.get((r.model, r.task, r.column))),
            ]
        )
    header = ["model", "task (metric)", "method", "chosen variant", "variants", "val_best (selection)", "reported"]
    return header + ["Δ vs best pick [95% CI]", "p vs best pick"], rows
