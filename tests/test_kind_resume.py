"""Exact resume on every task kind added after classification and generation were covered by
tests/test_resume.py: SIGTERM after the first checkpoint, the same command again, and the metrics,
best step and predictions equal those of an uninterrupted run."""

import signal
import subprocess
import time

import pytest

from cli import PROCESS_TIMEOUT, ptlab_cmd, ptlab_env, record, run_dirs

pytestmark = pytest.mark.slow

CASES = [  # (model, method, task): one per kind, a different family and method each
    ("tiny-bert", "prompt_tuning", "conll2003"),
    ("tiny-bert", "lora", "copa"),
    ("tiny-llama", "lora", "squad"),
]


@pytest.mark.parametrize("model,method,task", CASES, ids=["-".join(c) for c in CASES])
def test_an_interrupted_run_resumes_exactly(tmp_path, cli_cache, model, method, task):
    command = ptlab_cmd(
        f"model={model}", f"method={method}", "debug=smoke", f"task={task}", "task.max_source_length=128",
        "trainer.max_steps=20", "trainer.val_check_interval=7", "data.k=40", "data.batch_size=8", "data.eval_limit=8",
    )  # fmt: skip
    reference_dir = tmp_path / "reference"
    done = subprocess.run(
        command, env=ptlab_env(reference_dir, cli_cache), capture_output=True, text=True, timeout=PROCESS_TIMEOUT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (expected_dir,) = run_dirs(reference_dir)
    expected = record(expected_dir)

    log_dir = tmp_path / "interrupted"
    env = ptlab_env(log_dir, cli_cache)
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not list(log_dir.rglob("last.ckpt")):  # the first validation (step 7) is checkpointed
        assert first.poll() is None, first.communicate()[1][-3000:]
        time.sleep(0.05)
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=PROCESS_TIMEOUT)
    assert first.returncode == 128 + signal.SIGTERM
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
    assert again.returncode == 0, again.stderr[-3000:]
    (run_dir,) = run_dirs(log_dir)
    resumed = record(run_dir)
    assert resumed["action"] == "resume" and resumed["resumed_from_step"] >= 7
    assert resumed["metrics"] == expected["metrics"] and resumed["best"] == expected["best"]
    predictions = "predictions_val.jsonl"
    assert (run_dir / predictions).read_text() == (expected_dir / predictions).read_text()
