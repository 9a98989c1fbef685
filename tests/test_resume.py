"""Interrupted runs resume to exactly the result of an uninterrupted one (CPU, same seed).

Each case is real processes and real signals: a run is started, interrupted once its first
checkpoint exists (the preemption signal USR1, SIGTERM, or kill -9), then started again with the
same command. The resumed run's metrics, best step and per-example validation scores must be
*equal* to the uninterrupted run's, not close: on CPU the same weights, optimizer and scheduler
state, batch order and RNG state give bit-identical arithmetic, so any difference is a resume bug.
tiny-bert has dropout (exercises the RNG restore); prefix tuning saves only the prefix, LoRA
(on T5, the [lora] case) only its matrices.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from cli import PROCESS_TIMEOUT, ptlab_cmd, ptlab_env, record, run_dirs
from conf_files import model_config
from ptlab.methods import registry

pytestmark = pytest.mark.slow

# 5 batches an epoch, validation every 7 steps: interruptions land mid-epoch, and the resumed
# part crosses four epoch boundaries and three validations.
COMMON = ["debug=smoke", "trainer.max_steps=30", "trainer.val_check_interval=7", "data.k=40", "data.batch_size=8"]
SETUPS = {
    "bert-full_finetune": ["model=tiny-bert", "method=full_finetune", *COMMON],
    "llama-prefix_tuning": ["model=tiny-llama", "method=prefix_tuning", *COMMON],
}
# Every trained method in the registry, on the first tiny family it applies to, under USR1.
METHOD_SETUPS = {
    name: next(m for m in ("tiny-t5", "tiny-llama", "tiny-bert") if not method.not_applicable_to(model_config(m)))
    for name, method in sorted(registry().items())
    if method.trains
}
SETUPS.update({f"usr1-{name}": [f"model={model}", f"method={name}", *COMMON] for name, model in METHOD_SETUPS.items()})
_references: dict = {}


def reference(setup: str, tmp_path_factory, cache: Path):
    """The uninterrupted run of a setup (once per session)."""
    if setup not in _references:
        log_dir = tmp_path_factory.mktemp(f"reference-{setup}")
        done = subprocess.run(
            ptlab_cmd(*SETUPS[setup]),
            env=ptlab_env(log_dir, cache),
            capture_output=True,
            text=True,
            timeout=PROCESS_TIMEOUT,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        (run_dir,) = run_dirs(log_dir)
        _references[setup] = (record(run_dir), (run_dir / "predictions_val.jsonl").read_text())
    return _references[setup]


def wait_for(path_glob: str, root: Path, proc: subprocess.Popen, timeout: float = PROCESS_TIMEOUT) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(root.rglob(path_glob))
        if found:
            return found[0]
        assert proc.poll() is None, f"the run ended before writing {path_glob}: {proc.communicate()[1][-3000:]}"
        time.sleep(0.02)
    raise AssertionError(f"no {path_glob} under {root} after {timeout} s")


@pytest.mark.parametrize(
    "setup,sig",
    [
        ("bert-full_finetune", signal.SIGUSR1),
        ("bert-full_finetune", signal.SIGTERM),
        ("bert-full_finetune", signal.SIGKILL),
        ("llama-prefix_tuning", signal.SIGTERM),
        *[(f"usr1-{name}", signal.SIGUSR1) for name in METHOD_SETUPS],
    ],
    ids=["bert-usr1", "bert-term", "bert-kill9", "llama-prefix-term", *METHOD_SETUPS],
)
def test_interrupted_run_resumes_to_the_uninterrupted_result(setup, sig, tmp_path, tmp_path_factory, cli_cache):
    expected, expected_predictions = reference(setup, tmp_path_factory, cli_cache)
    env, command = ptlab_env(tmp_path, cli_cache), ptlab_cmd(*SETUPS[setup])

    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for("last.ckpt", tmp_path, first)  # the first validation (step 7) has been checkpointed
    first.send_signal(sig)
    _, stderr = first.communicate(timeout=PROCESS_TIMEOUT)
    (run_dir,) = run_dirs(tmp_path)
    interrupted = record(run_dir)
    if sig == signal.SIGKILL:
        assert first.returncode == -signal.SIGKILL
        assert interrupted["status"] == "running"  # killed: nothing could record it
    else:  # a preemption: checkpoint at the next step boundary, record it, exit 128 + signal
        assert first.returncode == 128 + sig, stderr[-3000:]
        assert interrupted["status"] == "preempted", interrupted
        assert f"preempted by {signal.Signals(sig).name}" in interrupted["error"]
        assert "run the same command to resume" in stderr
    assert interrupted.get("metrics") is None  # it really stopped before the end

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
    assert again.returncode == 0, again.stderr[-3000:]
    resumed = record(run_dir)
    assert resumed["status"] == "completed" and resumed["action"] == "resume"
    assert 7 <= resumed["resumed_from_step"] < 30
    assert resumed["metrics"] == expected["metrics"]  # exact equality, see the module docstring
    assert resumed["best"] == expected["best"]
    # the same batches, and the checkpointed token counters carried over
    assert resumed["throughput"]["padding_fraction"] == expected["throughput"]["padding_fraction"]
    assert (run_dir / "predictions_val.jsonl").read_text() == expected_predictions
    assert record(run_dir / "attempts" / "1")["status"] == interrupted["status"]  # history kept
