"""Flagship v3's pre-registered verdicts (PLAN.md), decided mechanically from the sweep.

    python experiments/flagship_v3/verdicts.py SWEEP [--margin 3] [--out experiments/flagship_v3/verdicts.md]

ptlab-report compares each column only with its row's reference and with zero-shot; the findings
need named contrasts (prefix vs prompt tuning, raw vs calibrated scores of the same runs), each in
its own Holm family. So this script runs the report's own test (ptlab.report.seeds: paired over
examples, seeds counted, Satterthwaite t, TOST against the margin) on exactly the contrasts PLAN.md
lists, every method at its tuned pick and over its fresh seeds only (ptlab.report.stats), and turns
each verdict into reproduced / not reproduced / inconclusive by the plan's rules.

- Two metrics of the same runs (calibrated - raw) are paired by run: one column of per-example,
  per-seed differences, tested against zero; its seeds' spread is the training share.
- Learning-rate sensitivity (finding 4): the range of the seed-0 grid's test scores over the pick's
  seed std on its fresh seeds, against Tukey's studentized range (k rates, n - 1 df): under "the
  rate does not matter" the k scores are k draws of the seed noise. Rates that share seed 0's draw
  and initialisation vary less than independent seeds, so this errs conservative; a rate where a
  method collapses to one label varies less than the pick, which errs the same way.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path
from typing import List, Tuple, Union

import numpy as np
import pandas as pd
from scipy.stats import studentized_range

from ptlab.report.compare import ZERO_SHOT, read_column
from ptlab.report.gather import gather
from ptlab.report.seeds import ALPHA, Column, Comparison, adjusted, compare, holm, resample
from ptlab.report.stats import tuned, tuning_runs
from ptlab.report.table import markdown

TASK, SPLIT = "sst2", "test"
SMOL, MINI = "smollm2-135m", "minilm-l6"


@dataclass(frozen=True)
class Contrast:
    """a - b on one model, each a (method, metric) at the method's pick; `expect` is the published
    direction: higher, lower, or not lower (equivalent or better)."""

    finding: str
    what: str
    model: str
    a: Tuple[str, str]
    b: Tuple[str, str]
    expect: str


RAW, CAL = "accuracy", "accuracy_calibrated"
CONTRASTS = (
    Contrast("1", "in-context k=16: calibrated - raw", SMOL, ("in_context", CAL), ("in_context", RAW), "higher"),
    Contrast("1", "zero-shot: calibrated - raw", SMOL, ("zero_shot", CAL), ("zero_shot", RAW), "higher"),
    Contrast("2", "LoRA k=16 - in-context k=16", SMOL, ("lora", RAW), ("in_context", RAW), "higher"),
    Contrast("2", "LoRA k=16 - calibrated in-context k=16", SMOL, ("lora", RAW), ("in_context", CAL), "higher"),
    Contrast("3", "MiniLM: prompt tuning - full FT", MINI, ("prompt_tuning", RAW), ("full_finetune", RAW), "lower"),
    Contrast("3", "MiniLM: prefix - prompt tuning", MINI, ("prefix_tuning", RAW), ("prompt_tuning", RAW), "higher"),
    Contrast("3", "MiniLM: prefix tuning - full FT", MINI, ("prefix_tuning", RAW), ("full_finetune", RAW), "not lower"),
    Contrast("3", "SmolLM2: prompt tuning - full FT", SMOL, ("prompt_tuning", RAW), ("full_finetune", RAW), "lower"),
)
# Finding 4: (model, method, what a rejection means for the finding).
SENSITIVITY = (
    (MINI, "prompt_tuning", "reproduced"),
    (MINI, "prefix_tuning", "reproduced"),
    (MINI, "full_finetune", "not specific to prompt methods"),
)
READS = {  # (expected direction, test verdict) -> the finding's reading; the rest is inconclusive
    ("higher", "better"): "reproduced",
    ("higher", "worse"): "not reproduced",
    ("higher", "equivalent"): "not reproduced",
    ("lower", "worse"): "reproduced",
    ("lower", "better"): "not reproduced",
    ("lower", "equivalent"): "not reproduced",
    ("not lower", "better"): "reproduced",
    ("not lower", "equivalent"): "reproduced",
    ("not lower", "worse"): "not reproduced",
}


def picked_runs(runs: pd.DataFrame, picks: pd.DataFrame, model: str, method: str) -> Union[pd.DataFrame, str]:
    """The fresh-seed runs of `method`'s pick on `model` (every run where it had one configuration)."""
    pick = picks[(picks["model"] == model) & (picks["task"] == TASK) & (picks["base"] == method)]
    if len(pick) != 1:
        return f"no pick of {model}/{method}"
    fresh = runs[~tuning_runs(runs, picks)]
    return fresh[(fresh["model"] == model) & (fresh["task"] == TASK) & (fresh["column"] == pick["column"].iloc[0])]


def difference(a: Column, b: Column) -> Tuple[Column, Column]:
    """a - b of the same runs as one column of per-example differences (both metrics are means over
    examples, statistics (score, 1)), and a column of zeros with as many seeds to test it against."""
    stats = a.stats.copy()
    stats[..., 0] -= b.stats[..., 0]
    zeros = np.zeros_like(stats)
    zeros[..., 1] = 1.0
    return replace(a, stats=stats), replace(a, stats=zeros)


def contrast(runs: pd.DataFrame, picks: pd.DataFrame, c: Contrast, margin: float) -> Union[Comparison, str]:
    """The seed-aware Comparison of c.a - c.b, or why it cannot be made."""
    sides = []
    for method, metric in (c.a, c.b):
        found = picked_runs(runs, picks, c.model, method)
        sides.append(found if isinstance(found, str) else read_column(found, SPLIT, metric))
    x, y = sides
    if isinstance(x, str) or isinstance(y, str):
        return x if isinstance(x, str) else y
    for (method, _), side in zip((c.a, c.b), (x, y)):
        if method != ZERO_SHOT and side.stats.shape[0] < 2:  # zero-shot: one deterministic run by design
            return f"{method} has {side.stats.shape[0]} fresh seed: its training variance is unknown"
    if x.ids != y.ids:
        return "not scored on the same examples (prompt or gold differ)"
    if c.a[0] == c.b[0]:  # the same runs: pair them run by run
        if x.stats.shape[2] != 2 or y.stats.shape[2] != 2:
            return "a paired difference needs two means over examples"
        x, y = difference(x, y)
    draws = resample([x, y])
    return compare(x, y, draws[0], draws[1], margin * x.unit)


def sensitivity(runs: pd.DataFrame, picks: pd.DataFrame, model: str, method: str) -> Union[dict, str]:
    """Range over the grid on the tuning seed(s), the pick's fresh seed std, studentized range p."""
    pick = picks[(picks["model"] == model) & (picks["task"] == TASK) & (picks["base"] == method)]
    fresh = picked_runs(runs, picks, model, method)
    if isinstance(fresh, str) or len(pick) != 1:
        return f"no pick of {model}/{method}"
    seeds = pick["tuning_seeds"].iloc[0]
    done = runs[(runs["state"] == "completed") & runs["value"].notna()]
    grid = done[(done["model"] == model) & (done["task"] == TASK) & (done["base"] == method)]
    grid = grid[grid["seed"].isin(seeds)].groupby("column")["value"].mean()
    spread = fresh.loc[fresh["state"] == "completed", "value"].dropna()
    if len(grid) < 2 or len(spread) < 2:
        return f"{len(grid)} rates on the tuning seed, {len(spread)} fresh seeds: nothing to test"
    sigma = float(spread.std(ddof=1)) / np.sqrt(len(seeds))  # one grid score averages len(seeds) seeds
    q = float(grid.max() - grid.min()) / sigma if sigma > 0 else np.inf
    return {
        "scores": ", ".join(f"{rate:g}: {100 * v:.1f}" for rate, v in sorted(zip(map(_rate, grid.index), grid))),
        "range": 100 * float(grid.max() - grid.min()),
        "sigma": 100 * float(spread.std(ddof=1)),
        "q": q,
        "p": float(studentized_range.sf(q, len(grid), len(spread) - 1)),
    }


def verdicts(sweep: Path, margin: float) -> str:
    """The Markdown of every contrast and sensitivity test, with the plan's reading of each."""
    runs, _, _ = gather([sweep], SPLIT, None)
    picks = tuned(runs)
    tested = {c: contrast(runs, picks, c, margin) for c in CONTRASTS}
    for finding in sorted({c.finding for c in CONTRASTS}):  # Holm within each finding
        family = [c for c in CONTRASTS if c.finding == finding]
        for c, test in zip(family, adjusted([tested[c] for c in family])):
            tested[c] = test
    rows = [_contrast_row(c, test) for c, test in tested.items()]
    found = {(m, method): sensitivity(runs, picks, m, method) for m, method, _ in SENSITIVITY}
    ok = [key for key, s in found.items() if isinstance(s, dict)]
    for key, p in zip(ok, holm([found[key]["p"] for key in ok])):
        found[key]["p_holm"] = p
    lr_rows = [_sensitivity_row(m, method, rejected, found[(m, method)]) for m, method, rejected in SENSITIVITY]
    return "\n".join(
        [
            f"# Flagship v3 verdicts (PLAN.md), SST-2 {SPLIT}, margin ±{margin:g} points",
            "",
            "Each method at its tuned pick, over its fresh seeds. Δ ×100 with its 95 % interval; p raw and "
            "Holm-adjusted within the finding; verdict as ptlab-report reads it; reading by PLAN.md's rules.",
            "",
            markdown(
                ["finding", "contrast", "expected", "Δ [95 % CI]", "p", "p (Holm)", "seeds", "verdict", "reading"],
                rows,
            ),
            "",
            "Finding 4: range of the tuning seed's test scores over the grid against the pick's seed std "
            f"(fresh seeds), Tukey's studentized range; Holm over the {len(SENSITIVITY)} tests.",
            "",
            markdown(
                [
                    "model",
                    "method",
                    "lr: test score on the tuning seed",
                    "range",
                    "seed std",
                    "q",
                    "p",
                    "p (Holm)",
                    "reading",
                ],
                lr_rows,
            ),
            "",
        ]
    )


def _rate(column: str) -> float:
    """The learning rate a grid column names (`prefix_tuning [method.lr=0.02]` -> 0.02)."""
    return float(column.split("method.lr=")[1].split(",")[0].rstrip("]"))


def _contrast_row(c: Contrast, test: Union[Comparison, str]) -> List[str]:
    start = [c.finding, c.what, c.expect]
    if not isinstance(test, Comparison):
        return start + ["–", "–", "–", "–", f"untested: {test}", "inconclusive"]
    seeds = f"{test.seeds[0]}" if c.a[0] == c.b[0] else "/".join(map(str, test.seeds))
    if not test.covers_training:
        seeds += " (examples only)"
    return start + [
        f"{100 * test.delta:+.1f} [{100 * test.low:+.1f}, {100 * test.high:+.1f}]",
        f"{test.p:.3g}",
        f"{test.p_holm:.3g}",
        seeds,
        test.verdict,
        READS.get((c.expect, test.verdict), "inconclusive"),
    ]


def _sensitivity_row(model: str, method: str, rejected: str, s: Union[dict, str]) -> List[str]:
    if isinstance(s, str):
        return [model, method, s, "–", "–", "–", "–", "–", "inconclusive"]
    reading = rejected if s["p_holm"] < ALPHA else "inconclusive"
    numbers = (f"{s['range']:.1f}", f"{s['sigma']:.1f}", f"{s['q']:.2f}", f"{s['p']:.3g}", f"{s['p_holm']:.3g}")
    return [model, method, s["scores"], *numbers, reading]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep", type=Path, help="the flagship-v3 sweep directory")
    parser.add_argument("--margin", type=float, default=3.0, help="equivalence margin in points (PLAN.md: 3)")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    args = parser.parse_args()
    text = verdicts(args.sweep, args.margin)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
