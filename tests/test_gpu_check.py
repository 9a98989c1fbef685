"""The GPU check script runs (here on the CPU, one small case) and writes its JSON: it waits for a
GPU machine that may be lent for minutes, so it must not rot in between."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_runs_on_cpu_and_writes_every_case(tmp_path, data_dir, cli_cache):
    out = tmp_path / "gpu-check.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PTLAB_CACHE_DIR": str(cli_cache), "PTLAB_DATA_DIR": str(data_dir)}
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--out", str(out)]
        + ["--shapes", "smollm2-135m-shape", "--methods", "lora,prefix_tuning", "--batch", "2", "--length", "16"]
        + ["--warmup", "0", "--steps", "1"],
        env=env,
        check=True,
        capture_output=True,
        timeout=900,
    )
    found = json.loads(out.read_text())
    cases = {(c["method"], c["checkpointing"]): c for c in found["cases"]}
    assert found["device"] == "cpu" and set(cases) == {(m, c) for m in ("lora", "prefix_tuning") for c in (False, True)}
    assert "checkpointing" in cases["prefix_tuning", True]["not_applicable"]  # refused as a run would be
    for key in [("lora", False), ("lora", True), ("prefix_tuning", False)]:
        case = cases[key]
        assert "error" not in case, case
        assert case["tokens_per_s"] > 0 and case["planned_peak"] > 0 and 0 < case["mfu"] < 1
    assert cases["lora", True]["planned_peak"] < cases["lora", False]["planned_peak"]  # checkpointing saves
