"""Sharded full fine-tuning that runs: torch's fully_shard (FSDP2) through Lightning's
ModelParallelStrategy, 2 processes on CPU (gloo, conf/trainer/fsdp_cpu.yaml), on tiny-llama.

Two ranks of batch 4 see the global batch one process of batch 8 sees (ptlab's sampler gives rank r
the r-th slice of each global batch), and SST-2's loss reads one token per row, so the mean of the
ranks' means is the single process's mean: the runs must train to the same scores (within float
reduction order). Real processes, a real signal for the resume."""

from __future__ import annotations

import csv
import json
import math
import signal
import subprocess

import pytest
import torch

from cli import PROCESS_TIMEOUT, ptlab_cmd, ptlab_env, ptlab_ok, record, run_dirs
from test_resume import wait_for

pytestmark = pytest.mark.slow

RUN = [
    "model=tiny-llama",
    "method=full_finetune",
    "task=sst2",
    "debug=smoke",
    "data.k=48",
    "trainer.max_steps=12",
    "trainer.val_check_interval=4",
]


def _close(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-5)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_close, a, b))
    return a == b


def _losses(run_dir):
    """train/loss of each step, as metrics.csv holds it (the mean over ranks under FSDP)."""
    with (run_dir / "metrics.csv").open() as f:
        return [float(row["train/loss"]) for row in csv.DictReader(f) if row["train/loss"]]


def _predictions(run_dir, split):
    return [json.loads(r) for r in (run_dir / f"predictions_{split}.jsonl").read_text().splitlines()]


def _run(log_dir, cache, *overrides):
    ptlab_ok(*RUN, *overrides, log_dir=log_dir, cache=cache)
    (run_dir,) = run_dirs(log_dir)
    return run_dir


def test_two_sharded_processes_train_as_one_process_on_the_same_global_batch(tmp_path, cli_cache):
    single = _run(tmp_path / "single", cli_cache, "trainer=cpu", "data.batch_size=8")
    sharded = _run(tmp_path / "fsdp", cli_cache, "trainer=fsdp_cpu", "data.batch_size=4")
    one, two = record(single), record(sharded)
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert two["status"] == "completed"
    losses = _losses(single)
    assert len(losses) == 12 and losses[-1] != losses[0]  # it trained
    assert _close(_losses(sharded), losses), (losses, _losses(sharded))
    assert _close(two["metrics"], one["metrics"]), (one["metrics"], two["metrics"])
    for split in ("val", "test"):
        rows, expected = _predictions(sharded, split), _predictions(single, split)
        assert len(rows) == len(expected) > 0  # written once (by rank 0), every example once
        assert all(_close(a, b) for a, b in zip(rows, expected))
    # the checkpoint is gathered whole: the single process's keys and shapes, plain tensors
    whole = torch.load(single / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    gathered = torch.load(sharded / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    assert {k: v.shape for k, v in gathered.items()} == {k: v.shape for k, v in whole.items()}
    assert all(torch.allclose(gathered[k], whole[k], rtol=1e-4, atol=1e-6) for k in whole)


def test_a_sharded_run_resumes_to_the_uninterrupted_result(tmp_path, cli_cache):
    expected = record(_run(tmp_path / "reference", cli_cache, "trainer=fsdp_cpu", "data.batch_size=4"))
    log_dir = tmp_path / "interrupted"
    command, env = ptlab_cmd(*RUN, "trainer=fsdp_cpu", "data.batch_size=4"), ptlab_env(log_dir, cli_cache)
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for("last.ckpt", log_dir, first)
    first.send_signal(signal.SIGUSR1)
    _, stderr = first.communicate(timeout=PROCESS_TIMEOUT)
    assert first.returncode == 128 + signal.SIGUSR1, stderr[-3000:]
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
    assert again.returncode == 0, again.stderr[-3000:]
    (run_dir,) = run_dirs(log_dir)
    resumed = record(run_dir)
    assert resumed["status"] == "completed" and resumed["action"] == "resume"
    assert resumed["metrics"] == expected["metrics"]
    reference = run_dirs(tmp_path / "reference")[0]
    assert _losses(run_dir) == _losses(reference)  # every step's loss, the resumed ones too
    for split in ("val", "test"):
        assert _predictions(run_dir, split) == _predictions(reference, split)
