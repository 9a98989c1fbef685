"""Data-parallel on CPU (gloo, 2 processes started by Lightning): same results, same format."""

from __future__ import annotations

import json
import subprocess

import pytest

from cli import PROCESS_TIMEOUT, ptlab_cmd, ptlab_env, record, run_dirs

pytestmark = pytest.mark.slow

RUN = ["model=tiny-llama", "method=prompt_tuning", "debug=smoke"]


def _same_shape(a, b, at: str = "") -> None:
    """The two records have the same keys, and values of the same types, all the way down; a null
    stands for any value (whether a run's predictions collapsed to one class, say, is its outcome)."""
    if a is None or b is None:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"{at}: keys {sorted(a)} != {sorted(b)}"
        for key in a:
            _same_shape(a[key], b[key], f"{at}.{key}")
    else:
        assert type(a) is type(b), f"{at}: {type(a).__name__} != {type(b).__name__}"


def test_two_process_cpu_ddp_run_gives_the_single_process_results_format(tmp_path, cli_cache):
    env = ptlab_env(tmp_path, cli_cache)
    for trainer in ("cpu", "ddp_cpu"):
        done = subprocess.run(
            ptlab_cmd(*RUN, f"trainer={trainer}"), env=env, capture_output=True, text=True, timeout=PROCESS_TIMEOUT
        )
        assert done.returncode == 0, done.stderr[-3000:]
    single, ddp = sorted(run_dirs(tmp_path), key=lambda d: "ddp_cpu" in str(d))
    one, two = record(single), record(ddp)
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert two["status"] == "completed"
    _same_shape(two, one)
    assert all(0 <= r["throughput"]["padding_fraction"] < 1 for r in (one, two))
    # the two ranks scored disjoint halves of the validation set, gathered back in order
    ddp_rows = (ddp / "predictions_val.jsonl").read_text().splitlines()
    single_rows = (single / "predictions_val.jsonl").read_text().splitlines()
    assert len(ddp_rows) == len(single_rows) == 16
    assert [json.loads(r)["prompt"] for r in ddp_rows] == [json.loads(r)["prompt"] for r in single_rows]


def test_local_multirun_with_several_devices_is_refused_before_any_run(tmp_path, cli_cache):
    done = subprocess.run(
        ptlab_cmd("-m", *RUN, "trainer=ddp_cpu", "seed=0,1"),
        env=ptlab_env(tmp_path, cli_cache),
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
    )
    assert done.returncode == 1
    assert done.stderr.count("ptlab: error: trainer.devices=2 (num_nodes=1) in a local multirun") == 2
    # nothing ran; each refused point is recorded as failed (the sweep's table counts it)
    records = [record(d) for d in run_dirs(tmp_path)]
    assert [r["status"] for r in records] == ["failed", "failed"]
    assert all("in a local multirun" in r["error"] and "params" not in r for r in records)
