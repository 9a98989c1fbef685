"""ptlab-report's Significance and Tuned sections: what each mark and column means, said where the
reader sees it, and the warnings a verdict needs (few seeds, training variance not covered)."""

from __future__ import annotations

from typing import List

import pandas as pd

from ptlab.report.seeds import ALPHA, RESAMPLES, Comparison
from ptlab.report.stats import unpicked
from ptlab.report.table import markdown, significance_notes, significance_table, tuned_table

MARGIN = 1.0  # default equivalence margin: one point of the numbers shown (0.01 of a [0, 1] metric, x100)
FEW_SEEDS = 5  # below this many seeds a cell's mean and its verdicts rest on few trainings

LEGEND = (
    "[a, b]: 95 % Student-t interval of the mean over seeds (none for one seed). Against the row's reference "
    "column `(ref)`, the one with the best mean validation score (the highest; the lowest where lower is better), "
    "never the reported split's: "
    f"↑ better, ↓ worse (Holm-adjusted p < {ALPHA} over the row's comparisons), ≡ equivalent (the "
    "difference shown to lie within ±margin, two one-sided tests), ? inconclusive (neither); no mark: "
    "untested (the Significance section says why). The test counts seeds and examples; with one seed it "
    "covers the examples only."
)


def latex_note(metrics: str, split: str, margin: float) -> str:
    return (
        f"ptlab-report: {metrics} on {split}, mean $\\pm$ sample std [95% t-interval] over seeds; "
        f"vs the row's reference (chosen on validation): $\\uparrow$ better, $\\downarrow$ worse (Holm p < {ALPHA}), "
        f"$\\equiv$ equivalent within $\\pm${margin:g}, ? inconclusive (seeds and examples counted)"
    )


def significance_section(sig: pd.DataFrame, table: pd.DataFrame, split: str, margin: float) -> List[str]:
    return [
        "## Significance",
        "",
        "Each column against its row's reference (best mean validation score) and against zero-shot. "
        "Δ = column − other, on the table's scale, the difference of their means over seeds; better or "
        "worse in the metric's own direction. Its 95 % interval and p "
        "count both sources of variance: which seeds trained the models (the between-seed variance, net "
        f"of the examples' share it holds) and which examples the {split} split holds (a paired bootstrap, "
        f"{RESAMPLES:,} resamples, each seed's metric recomputed on every resample, corpus metrics "
        "included); Student t, Satterthwaite's df. p (Holm): adjusted over all comparisons of the row; p: "
        f"raw. Verdict: better / worse (p (Holm) < {ALPHA}), equivalent (both one-sided tests against "
        f"±{margin:g} reject, Holm-adjusted), else inconclusive. `examples only`: the bootstrap over "
        "examples alone, conditional on these trained models (secondary: it ignores training variance).",
        "",
        markdown(*significance_table(sig, table)),
        "",
        *significance_notes(sig),
        "",
    ]


def tuned_section(
    runs: pd.DataFrame, picks: pd.DataFrame, picked: pd.DataFrame, sig: pd.DataFrame, split: str
) -> List[str]:
    honest = {
        "test": "the test scores play no part in the choice",
        "val": "--split val reports the very scores chosen on, so these are optimistic: report test to separate them",
        "val_final": "the reported last-step scores are of the same validation set, so not independent of the choice",
    }[split]
    return [
        f"## Tuned: best configuration per method, chosen on validation, reported on {split}",
        "",
        "Per model × task × method, the variant with the best mean `metrics.val_best` (main metric; the highest, "
        "or the lowest where lower is better) over the "
        f"seeds every variant ran (its tuning seeds); {honest}. Every variant counts as a configuration to choose, "
        "a template or data setting included. A pick is reported over its other seeds only (fresh: on its tuning "
        "seeds it is the best of several tries). Δ, p and verdict as above, against the pick with the best "
        "mean validation score on its fresh seeds.",
        "",
        markdown(*tuned_table(picks, picked.assign(cell=_no_fresh(picks, picked)), sig)),
        "",
        *[f"- {line}" for line in unpicked(runs, picks)],
        *_few_seeds(picked),
        *(significance_notes(sig) + [""] if len(sig) else []),
    ]


def _no_fresh(picks: pd.DataFrame, picked: pd.DataFrame) -> List[str]:
    """A pick run on its tuning seeds only has no cell to report: say so rather than `missing`."""
    tuning = {(r.model, r.task, r.column): r.tuning_seeds for r in picks.itertuples()}
    return [
        f"no fresh seed (seed {', '.join(map(str, tuning[(r.model, r.task, r.method)]))} chose it)"
        if r.n == 0 and tuning.get((r.model, r.task, r.method))
        else r.cell
        for r in picked.itertuples()
    ]


def _few_seeds(picked: pd.DataFrame) -> List[str]:
    few = [f"{r.model}/{r.task}/{r.method} (n={r.n})" for r in picked.itertuples() if r.n < FEW_SEEDS]
    if not few:
        return []
    return [
        f"- warning: fewer than {FEW_SEEDS} fresh seeds, so its mean and verdicts rest on few trainings: "
        + ", ".join(few)
    ]


def tuned_csv(picks: pd.DataFrame, picked: pd.DataFrame, sig: pd.DataFrame) -> pd.DataFrame:
    rows = picked.set_index(["model", "task", "method"])
    tests = sig.set_index(["model", "task", "method"])["vs_reference"] if len(sig) else pd.Series(dtype=object)
    out = []
    for r in picks.itertuples():
        row, test = rows.loc[(r.model, r.task, r.column)], tests.get((r.model, r.task, r.column))
        tested = isinstance(test, Comparison)
        out.append(
            {
                "model": r.model,
                "task": r.task,
                "method": r.base,
                "variant": r.variant,
                "variants": r.variants,
                "val_best_mean": r.select,
                "tuning_seeds": " ".join(map(str, r.tuning_seeds)),
                **{k: row[k] for k in ("metric", "mean", "std", "ci_low", "ci_high", "n")},
                **{
                    f"{k}_vs_reference": getattr(test, k) if tested else None
                    for k in ("delta", "low", "high", "p", "p_holm")
                },
                "verdict_vs_reference": test.verdict if tested else "",
                "untested": test if isinstance(test, str) else "",
            }
        )
    return pd.DataFrame(out)
