"""A run dir that can be trusted, attacked through the real CLI: a disk that fills mid-save (a
real small tmpfs), the same command started twice, a corrupt or refused checkpoint, and a task
YAML or data dir edited after a run completed. Nothing written is lost, nothing is returned stale.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from mounts import tmpfs
from cli import PROCESS_TIMEOUT, REAL_DATA, ptlab_cmd, ptlab_env, record, run_dirs
from test_bad_input import error_line, ptlab, run_dir_of

pytestmark = pytest.mark.skipif(not (REAL_DATA / "sst2").is_dir(), reason=f"real datasets not found at {REAL_DATA}")
WAIT = PROCESS_TIMEOUT  # a hang detector, not a speed check
# tiny-llama full fine-tuning, validated (and checkpointed) every 10 steps: slow enough to act
# between two checkpoints, fast enough for a test.
LONG = [
    "model=tiny-llama",
    "method=full_finetune",
    "debug=smoke",
    "trainer.max_steps=60",
    "trainer.val_check_interval=10",
    "data.k=64",
]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def start(args, log_dir: Path, cache: Path) -> subprocess.Popen:
    return subprocess.Popen(
        ptlab_cmd(*args),
        env=ptlab_env(log_dir, cache),
        cwd=log_dir.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(name: str, root: Path, proc: subprocess.Popen) -> Path:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = [p for p in root.rglob(name) if "attempts" not in p.parts]
        if found:
            return found[0]
        assert proc.poll() is None, f"the run ended before writing {name}: {proc.communicate()[1][-3000:]}"
        time.sleep(0.02)
    raise AssertionError(f"no {name} under {root} after {WAIT} s")


def killed_after_first_checkpoint(args, log_dir: Path, cache: Path) -> Path:
    """A run killed with SIGKILL once its first last.ckpt exists; returns its run dir."""
    proc = start(args, log_dir, cache)
    wait_for("last.ckpt", log_dir, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=WAIT)
    (run_dir,) = run_dirs(log_dir)
    assert record(run_dir)["status"] == "running"
    return run_dir


def leftovers(root: Path) -> list:
    """Temp files of an interrupted atomic write (`.<name>.<random>`, not `.lock` / `.decision`)."""
    return [str(p) for p in root.rglob(".*.*") if p.is_file()]


# ---------------------------------------------------------------- a disk that fills up


@pytest.fixture
def small_disk(tmp_path):
    """A real 160 MiB tmpfs (needs root and mount rights; skipped, saying why, without them)."""
    with tmpfs(tmp_path / "disk", "size=160m") as mount:
        yield mount


@pytest.mark.slow
def test_disk_full_during_a_checkpoint_keeps_the_last_good_one_and_resumes(small_disk, tmp_path, cli_cache):
    log_dir = small_disk / "runs"
    run_dir = killed_after_first_checkpoint(LONG, log_dir, cli_cache)
    checkpoints = {p.name: digest(p) for p in (run_dir / "checkpoints").glob("*.ckpt")}
    size = (run_dir / "checkpoints" / "last.ckpt").stat().st_size

    # Fill the disk so the next checkpoint cannot fit, while a small record still can.
    free = shutil.disk_usage(small_disk).free
    filler = small_disk / "filler"
    with filler.open("wb") as f:
        f.truncate(0)
        f.write(b"\0" * max(0, free - size // 2))

    failed = subprocess.run(
        ptlab_cmd(*LONG), env=ptlab_env(log_dir, cli_cache), capture_output=True, text=True, timeout=WAIT
    )
    line = error_line(failed)
    assert "could not write checkpoint" in line and "No space left on device" in line, line
    assert "is kept" in line and "run the same command to resume" in line, line
    after = record(run_dir)
    assert after["status"] == "failed" and "No space left on device" in after["error"], after
    assert {p.name: digest(p) for p in (run_dir / "checkpoints").glob("*.ckpt")} == checkpoints
    assert leftovers(log_dir) == []  # no partial checkpoint, no 0-byte record temp file

    filler.unlink()
    again = subprocess.run(
        ptlab_cmd(*LONG), env=ptlab_env(log_dir, cli_cache), capture_output=True, text=True, timeout=WAIT
    )
    assert again.returncode == 0, again.stderr[-3000:]
    done = record(run_dir)
    assert done["status"] == "completed" and done["action"] == "resume", done
    assert done["resumed_from_step"] >= 10
    assert leftovers(log_dir) == []


# ---------------------------------------------------------------- one owner per run dir


@pytest.mark.slow
def test_the_same_command_twice_is_refused_while_the_first_runs_and_kill_9_leaves_no_lock(tmp_path, cli_cache):
    log_dir = tmp_path / "runs"
    first = start(LONG, log_dir, cli_cache)
    results = wait_for("results.json", log_dir, first)
    second = subprocess.run(
        ptlab_cmd(*LONG), env=ptlab_env(log_dir, cli_cache), capture_output=True, text=True, timeout=WAIT
    )
    line = error_line(second)
    assert f"pid={first.pid}" in line and f"host={os.uname().nodename}" in line and "in use" in line, line
    assert first.poll() is None  # the owner goes on, undisturbed
    assert not (results.parent / "attempts").exists()  # its record was not archived by the second

    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=WAIT)
    third = subprocess.run(
        ptlab_cmd(*LONG), env=ptlab_env(log_dir, cli_cache), capture_output=True, text=True, timeout=WAIT
    )
    assert third.returncode == 0, third.stderr[-3000:]
    assert record(results.parent)["status"] == "completed"


# ---------------------------------------------------------------- corrupt and refused checkpoints


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncated", "empty-and-no-best"])
def test_unreadable_last_checkpoint_is_moved_aside_and_the_run_goes_on(damage, tmp_path, cli_cache):
    log_dir = tmp_path / "runs"
    run_dir = killed_after_first_checkpoint(LONG, log_dir, cli_cache)
    last = run_dir / "checkpoints" / "last.ckpt"
    original = last.read_bytes()
    if damage == "truncated":
        last.write_bytes(original[: len(original) // 2])
    else:
        last.write_bytes(b"")
        (run_dir / "checkpoints" / "best.ckpt").unlink()
    damaged = last.read_bytes()

    proc = subprocess.run(
        ptlab_cmd(*LONG), env=ptlab_env(log_dir, cli_cache), capture_output=True, text=True, timeout=WAIT
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    notes = [ln for ln in proc.stderr.splitlines() if "checkpoints/last.ckpt is unreadable" in ln]
    assert len(notes) == 1, proc.stderr
    assert "moved to attempts/1/last.ckpt" in notes[0]
    assert (run_dir / "attempts" / "1" / "last.ckpt").read_bytes() == damaged  # kept, as it was
    done = record(run_dir)
    assert done["status"] == "completed"
    if damage == "truncated":
        assert "resuming from checkpoints/best.ckpt" in notes[0]
        assert done["action"] == "resume" and done["resumed_from_step"] >= 10
    else:
        assert "starting over" in notes[0]
        assert done["action"] == "start" and done["resumed_from_step"] is None
        # the earlier attempt moved aside whole, not mixed into the fresh start
        assert {"results.json", "config.yaml", "metrics.csv", "ptlab.log", "last.ckpt"} <= {
            p.name for p in (run_dir / "attempts" / "1").iterdir()
        }


@pytest.mark.slow
def test_checkpoint_refused_by_a_weights_only_load_is_one_line_without_torchs_advice(tmp_path, cli_cache):
    import torch

    log_dir = tmp_path / "runs"
    run_dir = killed_after_first_checkpoint(LONG, log_dir, cli_cache)
    last = run_dir / "checkpoints" / "last.ckpt"
    torch.save({"state_dict": {}, "hook": print}, last)  # a valid archive holding a callable
    before = digest(last)
    proc = subprocess.run(
        ptlab_cmd(*LONG), env=ptlab_env(log_dir, cli_cache), capture_output=True, text=True, timeout=WAIT
    )
    line = error_line(proc)
    assert str(last) in line and "weights-only" in line and "never unpickles" in line, line
    assert "weights_only=False" not in proc.stderr and "trust" not in proc.stderr
    assert digest(last) == before  # refused, not touched


# ---------------------------------------------------------------- stale results


def user_task(config_dir: Path, negative: str) -> None:
    """A task YAML of the user's own (`--config-dir`), the shipped SST-2 with another verbalizer."""
    shipped = (Path(__file__).resolve().parents[1] / "conf" / "task" / "sst2.yaml").read_text()
    (config_dir / "task").mkdir(parents=True, exist_ok=True)
    (config_dir / "task" / "my_sst2.yaml").write_text(
        shipped.replace("name: sst2", "name: my_sst2").replace('" negative"', f'"{negative}"')
    )


@pytest.mark.slow
def test_edited_task_yaml_or_other_data_is_not_the_completed_run(tmp_path, cli_cache):
    log_dir, config_dir = tmp_path / "runs", tmp_path / "myconf"
    user_task(config_dir, " negative")
    args = ["--config-dir", str(config_dir), "task=my_sst2", "model=tiny-llama", "method=zero_shot", "debug=smoke"]
    first = ptlab(*args, log_dir=log_dir, cache=cli_cache, data_dir=REAL_DATA)
    run_dir = run_dir_of(first)
    completed = record(run_dir)
    assert completed["fingerprint"]["data_files"]["test"]["file"] == "sst2/dev.tsv"  # reported: the dev set

    same = ptlab(*args, log_dir=log_dir, cache=cli_cache, data_dir=REAL_DATA)
    assert same.returncode == 0 and "holds a completed run; leaving it as it is" in same.stdout

    user_task(config_dir, " awful")  # the researcher edits the verbalizer and runs the same command
    edited = ptlab(*args, log_dir=log_dir, cache=cli_cache, data_dir=REAL_DATA)
    line = error_line(edited)
    assert "a different config (task.labels.negative: ' negative' -> ' awful')" in line, line
    assert "if_exists=rerun" in line
    assert record(run_dir) == completed

    user_task(config_dir, " negative")
    other = tmp_path / "data"
    (other / "sst2").mkdir(parents=True)
    shutil.copy(REAL_DATA / "sst2" / "train.tsv", other / "sst2" / "train.tsv")
    dev = (REAL_DATA / "sst2" / "dev.tsv").read_text().splitlines(keepends=True)
    (other / "sst2" / "dev.tsv").write_text("".join(dev[:-1]))  # one example fewer
    line = error_line(ptlab(*args, log_dir=log_dir, cache=cli_cache, data_dir=other))
    assert "different data (test (sst2/dev.tsv) changed)" in line, line
    line = error_line(ptlab(*args, log_dir=log_dir, cache=cli_cache, data_dir=tmp_path / "nowhere"))
    assert "missing now" in line, line
    assert record(run_dir) == completed

    rerun = ptlab(*args, "if_exists=rerun", log_dir=log_dir, cache=cli_cache, data_dir=other)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert record(run_dir)["fingerprint"]["data"] != completed["fingerprint"]["data"]
    assert record(run_dir / "attempts" / "1") == completed
