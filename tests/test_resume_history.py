"""A resumed run's metrics.csv holds its whole history: byte for byte the uninterrupted run's.

Lightning's CSV logger starts the file afresh, so the curves read from a resumed run's dir began
at the resume. Real processes and signals as in tests/test_resume.py: a run stopped once its
first checkpoint exists (the preemption signal, or kill -9), then the same command again. On CPU
the resumed run logs the same values as an uninterrupted one (test_resume.py checks that), so
its metrics.csv must equal the uninterrupted run's: every step's rows, each once, in order.
"""

from __future__ import annotations

import csv
import signal
import subprocess
import time
from pathlib import Path

import pytest

from cli import PROCESS_TIMEOUT, ptlab_cmd, ptlab_env, record, run_dirs

pytestmark = pytest.mark.slow

# 5 batches an epoch, validation every 7 steps, a row per step (debug=smoke logs every step).
SETUP = ["model=tiny-bert", "method=full_finetune", "debug=smoke", "trainer.max_steps=30"]
SETUP += ["trainer.val_check_interval=7", "data.k=40", "data.batch_size=8"]


def metrics_csv(log_dir: Path) -> str:
    (run_dir,) = run_dirs(log_dir)
    return (run_dir / "metrics.csv").read_text()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, cli_cache) -> str:
    log_dir = tmp_path_factory.mktemp("uninterrupted")
    done = subprocess.run(
        ptlab_cmd(*SETUP), env=ptlab_env(log_dir, cli_cache), capture_output=True, text=True, timeout=PROCESS_TIMEOUT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return metrics_csv(log_dir)


@pytest.mark.parametrize("sig", [signal.SIGUSR1, signal.SIGKILL], ids=["usr1", "kill9"])
def test_resumed_run_keeps_every_step_of_its_metrics(sig, uninterrupted, tmp_path, cli_cache):
    env, command = ptlab_env(tmp_path, cli_cache), ptlab_cmd(*SETUP)
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while not list(tmp_path.rglob("last.ckpt")):  # the first validation (step 7) is checkpointed
        assert first.poll() is None, first.communicate()[1][-3000:]
        time.sleep(0.02)
    first.send_signal(sig)
    first.communicate(timeout=PROCESS_TIMEOUT)
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
    assert again.returncode == 0, again.stderr[-3000:]
    (run_dir,) = run_dirs(tmp_path)
    resumed_from = record(run_dir)["resumed_from_step"]
    assert record(run_dir)["action"] == "resume" and resumed_from >= 7
    rows = list(csv.DictReader(metrics_csv(tmp_path).splitlines()))
    assert {int(r["step"]) for r in rows if r["train/loss"]} == set(range(30))  # before the resume too
    assert metrics_csv(tmp_path) == uninterrupted
