"""A paired bootstrap between any two columns (or two metrics of one column) of the sweep.

ptlab-report pairs each column with its row's best and with zero-shot; the write-up also needs
in-context vs LoRA at the same k, and raw vs calibrated scores of the same runs:

    python experiments/flagship_v2/paired.py outputs/flagship-v2 smollm2-135m sst2 \
        lora/data.k=16,method.lr=0.001:accuracy in_context/data.k=16:accuracy
    python experiments/flagship_v2/paired.py outputs/flagship-v2 smollm2-135m sst2 \
        zero_shot/task.template=it_was:accuracy_calibrated zero_shot/task.template=it_was:accuracy

A column is METHOD[/VARIANT]:METRIC; its per-example score is averaged over its seeds.
"""

import sys
from pathlib import Path

import numpy as np
from vs_majority import seed_predictions

from ptlab.report.stats import paired_bootstrap


def scores(sweep: Path, model: str, task: str, column: str):
    """(gold labels, per-example metric averaged over seeds, number of seeds) of one column."""
    spec, metric = column.rsplit(":", 1)
    method, _, variant = spec.partition("/")
    seeds = seed_predictions(sweep, model, task, method, variant)
    if not seeds:
        sys.exit(f"{sweep}: no completed run of {model} x {task} x {spec}")
    per_seed = [[p["example_scores"][metric] for p in rows] for rows in seeds]
    return [p["gold"] for p in seeds[0]], np.mean(per_seed, axis=0), len(seeds)


def main(sweep: str, model: str, task: str, a: str, b: str) -> None:
    gold_a, score_a, n_a = scores(Path(sweep), model, task, a)
    gold_b, score_b, n_b = scores(Path(sweep), model, task, b)
    if gold_a != gold_b:
        sys.exit(f"{a} and {b} were scored on different examples")
    test = paired_bootstrap(score_a, score_b)
    print(
        f"{model} {task}: {a} ({n_a} seeds) {100 * score_a.mean():.1f} - "
        f"{b} ({n_b} seeds) {100 * score_b.mean():.1f} = "
        f"{100 * test.delta:+.1f} [{100 * test.low:+.1f}, {100 * test.high:+.1f}], p = {test.p:.4f}"
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
