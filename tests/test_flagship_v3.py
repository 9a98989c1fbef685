"""experiments/flagship_v3/verdicts.py through its command line, on run dirs built here in the
flagship's layout: the pre-registered contrasts at each method's pick over its fresh seeds, raw and
calibrated scores of the same runs paired run by run, and the learning-rate sensitivity test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from cli import PROCESS_TIMEOUT

REPO = Path(__file__).resolve().parents[1]
N = 400  # test examples
FRESH = (1, 2, 3, 4, 5)
# (model, method, variant) -> {seed: (examples right raw, right calibrated, validation score)}
ICL_RAW = (200, 280, 290, 240, 260)  # 50-72.5: demonstrations decide, as in flagship v2
RUNS: Dict[tuple, Dict[int, tuple]] = {
    ("smollm2-135m", "zero_shot", ""): {0: (300, 292, 0.7)},
    ("smollm2-135m", "in_context", "data.k=16"): {s: (r, r + 40, 0.6) for s, r in zip(FRESH, ICL_RAW)},
    ("smollm2-135m", "lora", "data.k=16"): {s: (r, r, 0.8) for s, r in zip(FRESH, (316, 320, 324, 318, 322))},
    ("smollm2-135m", "prompt_tuning", "method.lr=0.1"): {s: (328, 328, 0.8) for s in FRESH},
    ("smollm2-135m", "full_finetune", "method.lr=2e-05"): {
        s: (r, r, 0.8) for s, r in zip(FRESH, (326, 330, 328, 327, 329))
    },
    # MiniLM: a 3-rate grid on seed 0, the pick (best validation) on seeds 1-5
    ("minilm-l6", "prompt_tuning", "method.lr=0.003"): {0: (240, 240, 0.60)},
    ("minilm-l6", "prompt_tuning", "method.lr=0.01"): {
        0: (330, 330, 0.70),  # its tuning seed: far above its fresh seeds, so counting it shows
        **{s: (r, r, 0.6) for s, r in zip(FRESH, (220, 260, 240, 280, 250))},
    },
    ("minilm-l6", "prompt_tuning", "method.lr=0.03"): {0: (230, 230, 0.65)},
    ("minilm-l6", "prefix_tuning", "method.lr=0.006"): {0: (200, 200, 0.50)},  # stuck at chance
    ("minilm-l6", "prefix_tuning", "method.lr=0.02"): {
        0: (280, 280, 0.75),
        **{s: (r, r, 0.7) for s, r in zip(FRESH, (282, 283, 281, 284, 280))},
    },
    ("minilm-l6", "prefix_tuning", "method.lr=0.06"): {0: (260, 260, 0.70)},
    ("minilm-l6", "full_finetune", "method.lr=3e-05"): {0: (310, 310, 0.78)},
    ("minilm-l6", "full_finetune", "method.lr=0.0001"): {
        0: (318, 318, 0.80),
        **{s: (r, r, 0.8) for s, r in zip(FRESH, (316, 324, 312, 320, 318))},
    },
    ("minilm-l6", "full_finetune", "method.lr=0.0003"): {0: (314, 314, 0.79)},
}


def write_run(root: Path, model: str, method: str, variant: str, seed: int, raw: int, cal: int, val: float) -> None:
    """results.json and predictions_test.jsonl as ptlab-train writes them: the first `raw` (`cal`)
    examples right uncalibrated (calibrated), the same examples for every run."""
    run_dir = root / "flagship-v3" / model / "sst2" / method / f"seed{seed}" / variant
    run_dir.mkdir(parents=True)
    rows = [
        {
            "prompt": f"Review: film {i}\nSentiment:",
            "gold": "positive" if i % 2 else "negative",
            "example_scores": {"accuracy": float(i < raw), "accuracy_calibrated": float(i < cal)},
        }
        for i in range(N)
    ]
    (run_dir / "predictions_test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    record = {
        "schema_version": 3,
        "status": "completed",
        "name": "flagship-v3",
        "model": model,
        "method": method,
        "task": "sst2",
        "seed": seed,
        "family": "causal",
        "params": {"trainable": 10, "total": 100, "trainable_fraction": 0.1},
        "main_metric": "accuracy",
        "metrics": {
            "val_best": {"accuracy": val},
            "test": {"accuracy": raw / N, "accuracy_calibrated": cal / N},
        },
        "memory": {"peak_memory_bytes": 1e9, "memory_kind": "cpu_peak_rss"},
        "time": {"train_seconds": 1.0},
        "finished_at": "2026-11-29T06:00:00+00:00",
    }
    (run_dir / "results.json").write_text(json.dumps(record))


def run_verdicts(root: Path, runs: Dict[tuple, Dict[int, tuple]]) -> Dict[str, List[str]]:
    """The script's two tables on `runs` written under `root`, as {first two cells: row}."""
    for (model, method, variant), seeds in runs.items():
        for seed, (raw, cal, val) in seeds.items():
            write_run(root, model, method, variant, seed, raw, cal, val)
    out = root / "verdicts.md"
    done = subprocess.run(
        [sys.executable, str(REPO / "experiments" / "flagship_v3" / "verdicts.py"), str(root / "flagship-v3")]
        + ["--margin", "3", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_text() in done.stdout
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in done.stdout.splitlines() if line[:2] == "| "]
    return {f"{r[0]} {r[1]}": r for r in rows}


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory) -> Dict[str, List[str]]:
    return run_verdicts(tmp_path_factory.mktemp("v3"), RUNS)


@pytest.mark.slow
def test_calibrated_and_raw_scores_of_the_same_runs_are_paired_run_by_run(verdicts):
    """Every seed gains 10 points while the seeds' raw scores span 22: paired, that is a sure
    gain; compared as two independent columns it would drown in the seed spread."""
    row = verdicts["1 in-context k=16: calibrated - raw"]
    assert row[3].startswith("+10.0 ") and row[6] == "5"
    assert (row[7], row[8]) == ("better", "reproduced")


def test_zero_shot_has_no_training_variance_and_a_loss_does_not_reproduce(verdicts):
    row = verdicts["1 zero-shot: calibrated - raw"]
    assert row[3].startswith("-2.0 ") and row[6] == "1 (examples only)"
    assert (row[7], row[8]) == ("worse", "not reproduced")


def test_contrasts_read_each_pick_over_its_fresh_seeds_only(verdicts):
    """MiniLM prompt tuning's tuning seed scored 82.5; its fresh seeds 50-70 (mean 62.5)."""
    row = verdicts["3 MiniLM: prompt tuning - full FT"]
    fresh = sum((220, 260, 240, 280, 250)) / 5 / N - sum((316, 324, 312, 320, 318)) / 5 / N
    assert row[3].startswith(f"{100 * fresh:+.1f} ") and row[6] == "5/5"
    assert float(row[5]) >= float(row[4])  # Holm within finding 3 never lowers p


def test_a_rate_that_leaves_a_method_at_chance_reads_as_learning_rate_sensitivity(verdicts):
    """Prefix: 50 / 70 / 65 over its grid against a seed std under half a point: sensitive. Full FT's
    2-point spread and prompt tuning's 5 against a 5.7-point seed std are not shown to be."""
    assert verdicts["minilm-l6 prefix_tuning"][-1] == "reproduced"
    assert verdicts["minilm-l6 prefix_tuning"][3] == "20.0"
    assert verdicts["minilm-l6 full_finetune"][-1] == "inconclusive"
    assert verdicts["minilm-l6 prompt_tuning"][-1] == "inconclusive"


def test_a_trained_side_with_one_fresh_seed_is_left_untested(tmp_path):
    """One LoRA seed says nothing of its training variance: the contrast reads inconclusive, with why."""
    runs = {**RUNS, ("smollm2-135m", "lora", "data.k=16"): {1: (316, 316, 0.8)}}
    row = run_verdicts(tmp_path, runs)["2 LoRA k=16 - in-context k=16"]
    assert row[7] == "untested: lora has 1 fresh seed: its training variance is unknown"
    assert row[8] == "inconclusive"
