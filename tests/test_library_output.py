"""Libraries' warnings and log lines land in the run's ptlab.log, never on the console (ptlab/run/library_output.py).

A real Optuna sweep logging to W&B offline: Optuna and its Hydra sweeper warn about their own
deprecations as the sweep starts (before any run has a directory), and wandb prints its own
warnings to stderr as its run starts. The console must hold ptlab's lines only; the warnings are
in the run's ptlab.log. (The GGUF conversion's progress bar: tests/test_interrupts.py.)
"""

import re
import subprocess

import pytest

from cli import PROCESS_TIMEOUT, ptlab_cmd, ptlab_env

pytestmark = pytest.mark.slow


def test_optuna_and_wandb_warnings_go_to_ptlab_log_not_the_console(tmp_path, cli_cache):
    env = {**ptlab_env(tmp_path / "runs", cli_cache), "HOME": str(tmp_path)}  # no W&B login: offline
    env.pop("WANDB_API_KEY", None)
    overrides = ["-m", "hparams_search=optuna", "hydra.sweeper.n_trials=1", "logger=wandb"]
    proc = subprocess.run(
        ptlab_cmd(*overrides, "model=tiny-bert", "method=full_finetune", "debug=smoke"),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
    )
    console = proc.stdout + proc.stderr
    assert proc.returncode == 0, console[-5000:]
    assert not re.search("Warning|WARNING", console), console  # FutureWarning, wandb: WARNING, ...
    (log,) = (tmp_path / "runs").rglob("ptlab.log")
    text = log.read_text()
    assert re.search(r"optuna/.*FutureWarning", text), text  # held from before the run, then logged
    assert "wandb: WARNING" in text, text  # printed by wandb to stderr during the run
    assert "A new study created" not in console and "[INFO optuna" in text, text  # Optuna's own log lines
