"""Temp files a kill -9 leaves in a run dir are removed by the next run in that dir.

Every run file (record, config, predictions, metrics, checkpoints) is written to a temp file
beside it and renamed into place (ptlab/run/record.py atomic_write); a process killed between the two
leaves the temp file. Here real processes are killed with SIGKILL inside that write, in a run dir
a real run left unfinished (itself killed with SIGKILL); the next launch holds the run dir's lock,
so no live writer is left, and it removes them before it writes.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli import PROCESS_TIMEOUT, ptlab_cmd, ptlab_env, record, run_dirs

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
SETUP = ["model=tiny-bert", "method=full_finetune", "debug=smoke", "trainer.max_steps=20"]
SETUP += ["trainer.val_check_interval=7", "data.k=40", "data.batch_size=8"]
HALF_WRITE = """
import sys, time
from pathlib import Path
from ptlab.run.record import atomic_write

def write(tmp):
    Path(tmp).write_text("half of it")
    print(tmp, flush=True)
    time.sleep(600)

atomic_write(Path(sys.argv[1]), write)
"""


def killed_while_writing(target: Path) -> Path:
    """The temp file of a process killed (SIGKILL) in the middle of ptlab's atomic write of `target`."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HALF_WRITE, str(target)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    temp = Path(proc.stdout.readline().strip())
    proc.kill()
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL and temp.is_file() and temp.parent == target.parent
    return temp


def hidden_files(run_dir: Path) -> list:
    """Dot files but the run dir's lock and its launch's decision."""
    return sorted(str(p) for p in run_dir.rglob(".*") if p.is_file() and p.name not in (".lock", ".decision"))


def test_the_next_run_removes_temp_files_of_killed_writers(tmp_path, cli_cache):
    env, command = ptlab_env(tmp_path, cli_cache), ptlab_cmd(*SETUP)
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while not list(tmp_path.rglob("last.ckpt")):
        assert first.poll() is None, first.communicate()[1][-3000:]
        time.sleep(0.02)
    first.kill()
    first.wait(timeout=PROCESS_TIMEOUT)
    (run_dir,) = run_dirs(tmp_path)
    temps = [
        killed_while_writing(run_dir / name)
        for name in ("results.json", "predictions_val.jsonl", "metrics.csv", "checkpoints/last.ckpt")
    ]
    assert set(map(str, temps)) <= set(hidden_files(run_dir))

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
    assert again.returncode == 0, again.stderr[-3000:]
    assert record(run_dir)["status"] == "completed" and record(run_dir)["action"] == "resume"
    assert hidden_files(run_dir) == []
