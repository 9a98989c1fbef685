"""Does each tuned pick beat the majority class? A paired bootstrap over the reported examples.

ptlab-report tests each method against its row's best and against zero-shot; the issue's bar for
this flagship is the majority class, a constant guess of the reported split's most common label
(slightly flattering to the guess: it knows the test split's label counts). Each pick's score per
example is its accuracy averaged over seeds, as in the report.

    python experiments/flagship_v2/vs_majority.py outputs/flagship-v2 experiments/flagship_v2/tuned.csv
"""

import csv
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from ptlab.report.stats import paired_bootstrap


def seed_predictions(sweep: Path, model: str, task: str, method: str, variant: str):
    """The test prediction rows of one table column's completed runs, one list per seed."""
    runs = [seed / variant if variant else seed for seed in sorted((sweep / model / task / method).glob("seed*"))]
    return [
        [json.loads(line) for line in open(run / "predictions_test.jsonl")]
        for run in runs
        if (run / "predictions_test.jsonl").is_file()
    ]


def main(sweep: Path, tuned_csv: Path) -> None:
    print("| model | task | method | pick | n seeds | accuracy | majority | Δ [95 % CI] | p |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in csv.DictReader(open(tuned_csv)):
        seeds = seed_predictions(sweep, row["model"], row["task"], row["method"], row["variant"])
        if not seeds:
            continue
        gold = [p["gold"] for p in seeds[0]]
        if any([p["gold"] for p in rows] != gold for rows in seeds):
            sys.exit(f"{row['model']} x {row['task']} x {row['method']}: seeds were scored on different examples")
        scores = np.mean([[p["example_scores"]["accuracy"] for p in rows] for rows in seeds], axis=0)
        label, _ = Counter(map(str, gold)).most_common(1)[0]
        majority = np.array([float(str(g) == label) for g in gold])
        test = paired_bootstrap(scores, majority)
        print(
            f"| {row['model']} | {row['task']} | {row['method']} | {row['variant'] or '-'} | {len(seeds)} | "
            f"{100 * scores.mean():.1f} | {100 * majority.mean():.1f} ({label}) | "
            f"{100 * test.delta:+.1f} [{100 * test.low:+.1f}, {100 * test.high:+.1f}] | {test.p:.4f} |"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
