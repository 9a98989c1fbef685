"""Sweeps are idempotent and isolate failures (real `ptlab-train -m` processes, tiny model).

One sweep point trains normally, one diverges (NaN loss), one has a bad value: the sweep runs all
three, records each, exits non-zero, and a re-launch of the same command skips the completed run
and retries only the others; if_exists=rerun forces a rerun without losing the first.
"""

from __future__ import annotations

import subprocess

import pytest

from cli import PROCESS_TIMEOUT, ptlab_cmd, ptlab_env, record, run_dirs

pytestmark = pytest.mark.slow

DIVERGING = 1e12  # a sweep point's rate; Hydra records it as str(float): "1000000000000.0"
SWEEP = [
    "-m",
    "name=isolation",
    "model=tiny-llama",
    "method=full_finetune",
    "debug=smoke",
    "trainer.max_steps=6",
    "trainer.gradient_clip_val=null",
    # The diverging point fails by construction, whatever examples it trains on: warmup starts the
    # rate at 0, so steps 0 and 1 see the initial weights; step 1's update at lr/3 (Adam moves every
    # weight by ~lr/3) leaves weights ~3e11 whose attention scores overflow float32, so step 2's loss
    # is NaN, after the validation at step 2 saved last.ckpt, and a resume from it is NaN at once.
    "method.warmup_ratio=0.5",
    f"method.lr=0.0001,{DIVERGING}",
    "data.k=16,100000",
]


def test_sweep_isolates_failures_and_a_relaunch_skips_completed_runs(tmp_path, cli_cache):
    env = ptlab_env(tmp_path, cli_cache)
    first = subprocess.run(ptlab_cmd(*SWEEP), env=env, capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
    assert first.returncode == 1, first.stderr[-3000:]
    runs = {_point(r): r for r in map(record, run_dirs(tmp_path))}
    assert len(runs) == 4  # every point has a record, whatever happened to the others

    good = runs[("0.0001", "16")]
    assert good["status"] == "completed" and good["metrics"]["val_final"]["accuracy"] >= 0
    diverged = runs[(str(DIVERGING), "16")]
    assert diverged["status"] == "failed"
    assert "non-finite training loss" in diverged["error"] and "last.ckpt" in diverged["error"]
    assert "at step 2;" in diverged["error"]  # the first loss after the first non-zero update
    assert (tmp_path / diverged["run_dir"] / "checkpoints" / "last.ckpt").is_file()  # step 2's validation's
    for lr in ("0.0001", str(DIVERGING)):
        bad = runs[(lr, "100000")]
        assert bad["status"] == "failed" and "asked for 100000 examples" in bad["error"]
    assert "3 run(s) of the sweep did not complete" in first.stderr
    assert "| tiny-llama" in first.stdout  # the sweep still ends with its table

    good_dir = tmp_path / good["run_dir"]
    before = (good_dir / "results.json").stat().st_mtime_ns
    again = subprocess.run(ptlab_cmd(*SWEEP), env=env, capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
    assert again.returncode == 1
    assert f"{good_dir} holds a completed run; leaving it as it is" in again.stdout
    assert (good_dir / "results.json").stat().st_mtime_ns == before
    retried = record(tmp_path / diverged["run_dir"])
    assert retried["action"] == "resume" and retried["status"] == "failed"  # from its checkpoint, again NaN
    assert "non-finite training loss" in retried["error"] and "at step 2;" in retried["error"]

    forced = subprocess.run(
        ptlab_cmd(*SWEEP[1:-2], "method.lr=0.0001", "data.k=16", "if_exists=rerun"),
        env=env,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
    )
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert record(good_dir)["started_at"] >= good["started_at"]
    assert record(good_dir / "attempts" / "1") == good  # the first run, kept as it was


def _point(run: dict) -> tuple:
    overrides = dict(o.split("=", 1) for o in run["overrides"] if "=" in o)
    return overrides["method.lr"], overrides["data.k"]


def test_a_sweep_skips_zero_shot_on_an_encoder_as_not_applicable(tmp_path, cli_cache):
    done = subprocess.run(
        ptlab_cmd("-m", "model=tiny-bert", "method=zero_shot", "debug=smoke"),
        env=ptlab_env(tmp_path, cli_cache),
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ptlab: skipped, not applicable: method=zero_shot needs a model with an LM head" in done.stderr
    assert run_dirs(tmp_path) == []


def test_the_sweep_end_report_reads_its_margin_from_the_config(tmp_path, cli_cache):
    """`report.margin` sets the equivalence margin of the table a multirun ends with, as
    ptlab-report's --margin does; it names no run (two sweeps that differ by it share run dirs)."""
    sweep = ["-m", "model=tiny-llama", "method=zero_shot", "debug=smoke", "task.template=review,question"]
    done = subprocess.run(
        ptlab_cmd(*sweep, "report.margin=2.5"),
        env=ptlab_env(tmp_path, cli_cache),
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "against ±2.5 reject" in done.stdout and "against ±1 reject" not in done.stdout
    assert all("margin" not in str(path) for path in run_dirs(tmp_path))
