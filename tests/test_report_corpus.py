"""ptlab-report's significance for a corpus metric, through the CLI: entity F1 (seqeval) of two
token-classification columns is recomputed on every bootstrap resample from the runs' prediction
rows, found through the kind each run's config.yaml names; a run dir without one is read as means
of `example_scores`, which entity F1 is not, so its test is n/a and says why."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from test_report import report, rows_of

TAGS = ["B-PER", "I-PER", "O", "B-LOC", "O"]  # 2 entities per sentence
SENTENCES = 40


def write_run(root: Path, method: str, seed: int, right: int, kind: bool = True) -> float:
    """A conll2003 run right on its first `right` sentences (predicting no entity on the rest);
    returns its entity F1, computed here by seqeval."""
    from seqeval.metrics import f1_score
    from seqeval.scheme import IOB2

    run_dir = root / "sweep" / "tiny-bert" / "conll2003" / method / f"seed{seed}"
    run_dir.mkdir(parents=True)
    rows = [
        {"tokens": [f"w{i}"] * len(TAGS), "gold": TAGS, "predicted": TAGS if i < right else ["O"] * len(TAGS)}
        for i in range(SENTENCES)
    ]
    f1 = f1_score([r["gold"] for r in rows], [r["predicted"] for r in rows], mode="strict", scheme=IOB2)
    (run_dir / "predictions_test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if kind:
        (run_dir / "config.yaml").write_text("seed: 0\ntask:\n  name: conll2003\n  kind: token_classification\n")
    record = {
        "schema_version": 3,
        "status": "completed",
        "name": "sweep",
        "model": "tiny-bert",
        "method": method,
        "task": "conll2003",
        "seed": seed,
        "family": "encoder",
        "params": {"trainable": 10, "total": 100, "trainable_fraction": 0.1},
        "main_metric": "entity_f1",
        "metrics": {"val_best": {"entity_f1": 0.5 + 0.1 * (method == "lora")}, "test": {"entity_f1": f1}},
        "memory": {"peak_memory_bytes": 1e9, "memory_kind": "cpu_peak_rss"},
        "time": {"train_seconds": 1.0},
        "finished_at": "2026-11-29T06:00:00+00:00",
    }
    (run_dir / "results.json").write_text(json.dumps(record))
    return f1


@pytest.mark.parametrize("kind", [True, False])
def test_entity_f1_is_compared_by_recomputing_it_on_each_resample(tmp_path, kind):
    lora = [write_run(tmp_path, "lora", seed, right, kind) for seed, right in ((0, 36), (1, 38), (2, 37))]
    prompt = [write_run(tmp_path, "prompt_tuning", seed, right, kind) for seed, right in ((0, 20), (1, 22))]
    result = report(str(tmp_path), "--out", str(tmp_path / "out"), "--split", "test")
    assert result.returncode == 0, result.stderr
    (row,) = [r for r in rows_of(result.stdout, "| model | task | method | cell | vs |") if r["vs"] == "reference"]
    assert row["method"] == "prompt_tuning"  # lora is the reference: the better validation score
    if not kind:
        assert row["verdict"] == "n/a"
        assert "entity_f1 cannot be recomputed from the rows of" in result.stdout
        return
    delta = 100 * (statistics.mean(prompt) - statistics.mean(lora))
    assert row["Δ [95% CI]"].startswith(f"{delta:+.1f} [") and row["verdict"] == "worse"
    assert row["seeds"] == "2 vs 3"
