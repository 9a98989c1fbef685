"""The real models end to end through `ptlab-train`: SmolLM2-135M-Instruct zero-shot on an SST-2
dev subset writes a complete results.json and beats chance, and MiniLM-L6 prompt tuning raises
SST-2 dev accuracy above the same model's untrained value (trainer.max_steps=0, same seed, so the
same randomly initialised classifier head and label-initialised prompt that training starts from).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import pytest

from cli import FULL_DATA, REAL_DATA, ptlab_ok

pytestmark = pytest.mark.slow

if not (REAL_DATA / "sst2").is_dir():
    pytest.skip(f"real datasets not found at {REAL_DATA}", allow_module_level=True)


def ptlab_train(*overrides: str, log_dir: Path, cache: Path) -> subprocess.CompletedProcess:
    """The installed console script (`python -m ptlab.train` if it is not on this interpreter's path)."""
    script = Path(sys.executable).with_name("ptlab-train")
    command = (
        [str(script)]
        if script.is_file()
        else ([shutil.which("ptlab-train")] if shutil.which("ptlab-train") else [sys.executable, "-m", "ptlab.train"])
    )
    # all of SST-2's training file: the accuracies here are of the real task (tests/small_data.py)
    return ptlab_ok(*overrides, log_dir=log_dir, cache=cache, command=command, data_dir=FULL_DATA)


def results_of(proc: subprocess.CompletedProcess) -> tuple[Path, Dict[str, Any]]:
    found = re.search(r"^ptlab: results in (.+)$", proc.stdout, re.MULTILINE)
    assert found, f"stdout names no results.json:\n{proc.stdout}"
    path = Path(found.group(1).strip())
    assert path.name == "results.json" and path.is_file(), path
    return path.parent, json.loads(path.read_text())


def test_smollm2_zero_shot_sst2_subset_through_the_cli(tmp_path, cli_cache):
    proc = ptlab_train(
        "model=smollm2-135m",
        "method=zero_shot",
        "task=sst2",
        "data.eval_limit=64",
        "data.test_limit=64",
        log_dir=tmp_path / "runs",
        cache=cli_cache,
    )
    run_dir, results = results_of(proc)

    assert results["status"] == "completed" and results["error"] is None
    assert (results["model"], results["method"], results["task"], results["seed"]) == (
        "smollm2-135m",
        "zero_shot",
        "sst2",
        0,
    )
    accuracy = results["metrics"]["test"]["accuracy"]  # the official dev set is sst2's reported split
    assert 0.0 <= results["metrics"]["val_best"]["accuracy"] <= 1.0  # validation: carved from train
    print(f"SmolLM2-135M-Instruct zero-shot SST-2 dev[64] accuracy: {accuracy:.4f}")
    assert accuracy > 0.5, f"zero-shot accuracy {accuracy} is not above chance"
    assert results["metrics"]["val_final"] == results["metrics"]["val_best"]

    params = results["params"]
    assert params["trainable"] == 0
    assert abs(params["total"] - 134.5e6) < 0.5e6, params

    for package in ("torch", "transformers", "peft", "lightning"):
        assert results["versions"][package], results["versions"]
    assert results["memory"]["peak_memory_bytes"] > 0 and results["memory"]["memory_kind"]
    assert results["time"]["total_seconds"] > 0 and results["time"]["eval_seconds"] > 0
    assert results["time"]["train_seconds"] == 0.0
    assert results["data"] == {"validation": 64, "test": 64}

    rows = (run_dir / "predictions_test.jsonl").read_text().splitlines()
    assert len(rows) == 64
    predictions = [json.loads(r) for r in rows]
    assert all(p["predicted"] in ("negative", "positive") for p in predictions)
    hits = sum(p["predicted"] == p["gold"] for p in predictions)
    assert hits / 64 == pytest.approx(accuracy)


def test_minilm_prompt_tuning_raises_sst2_accuracy_above_untrained(tmp_path, cli_cache):
    common = [
        "model=minilm-l6",
        "method=prompt_tuning",
        "task=sst2",
        "data.k=256",
        "data.eval_limit=200",
        "data.test_limit=200",
        "trainer.enable_progress_bar=false",
    ]
    untrained_proc = ptlab_train(*common, "trainer.max_steps=0", log_dir=tmp_path / "runs", cache=cli_cache)
    # Prompt tuning a 22.7M encoder on 256 examples is a slow, noisy learner (its linear-probe
    # ceiling on these 256 examples is ~0.6): at the yaml's lr (3e-2) 60 steps leave dev accuracy
    # at chance; lr=1e-1 for 200 steps (~6 epochs, ~1 min on 2 cores) plateaus at ~0.63 from step 100.
    trained_proc = ptlab_train(
        *common,
        "method.lr=1e-1",
        "trainer.max_steps=200",
        "trainer.val_check_interval=50",
        log_dir=tmp_path / "runs",
        cache=cli_cache,
    )
    untrained_dir, untrained = results_of(untrained_proc)
    trained_dir, trained = results_of(trained_proc)
    assert untrained_dir != trained_dir

    assert untrained["best"]["step"] == 0 and untrained["time"]["train_step_seconds"] == 0
    assert trained["best"]["step"] > 0
    # Same seed, same model: both start from the same prompt and classifier head.
    assert untrained["params"] == trained["params"]
    assert 0 < trained["params"]["trainable_fraction"] < 0.01

    before = untrained["metrics"]["val_best"]["accuracy"]
    after = trained["metrics"]["val_best"]["accuracy"]
    print(f"MiniLM-L6 prompt tuning SST-2 dev[200] accuracy: untrained {before:.4f}, trained {after:.4f}")
    assert after >= before + 0.08, (before, after)
    assert after > 0.6, after
