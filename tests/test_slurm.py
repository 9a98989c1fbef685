"""ptlab on a real SLURM cluster (tests/slurm_cluster.py): sweeps through the submitit launcher,
requeued jobs that resume to the uninterrupted result, and a 2-task srun DDP job on CPU."""

from __future__ import annotations

import subprocess
import time

import pytest

from cli import PROCESS_TIMEOUT, ptlab_cmd, ptlab_env, record, run_dirs
from test_resume import SETUPS, reference

pytestmark = pytest.mark.slow

LAUNCHER = [
    "hydra/launcher=slurm",
    "hydra.launcher.cpus_per_task=1",
    f"hydra.launcher.timeout_min={PROCESS_TIMEOUT // 60}",
]


def slurm_env(cluster, log_dir, cache):
    return {**ptlab_env(log_dir, cache), "SLURM_CONF": cluster.env["SLURM_CONF"]}


def test_sweep_through_the_slurm_launcher_finds_every_result(slurm_cluster, tmp_path, cli_cache):
    sweep = ["-m", *LAUNCHER, "name=slurm-sweep", "model=tiny-llama", "method=zero_shot,prompt_tuning", "debug=smoke"]
    done = subprocess.run(
        ptlab_cmd(*sweep),
        env=slurm_env(slurm_cluster, tmp_path, cli_cache),
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = [record(d) for d in run_dirs(tmp_path)]
    assert sorted(r["method"] for r in runs) == ["prompt_tuning", "zero_shot"]
    for run in runs:  # each ran inside its own SLURM job (an array task)
        assert run["status"] == "completed" and run["launch"].startswith("slurm-"), run
    assert (tmp_path / "slurm-sweep" / "report.md").is_file()


@pytest.mark.parametrize("how", ["preemption-signal", "scontrol-requeue"])
def test_requeued_job_resumes_to_the_uninterrupted_result(how, slurm_cluster, tmp_path, tmp_path_factory, cli_cache):
    """USR1 (what SLURM sends before a time limit): ptlab checkpoints and requeues the job itself.
    `scontrol requeue`: SLURM sends SIGTERM, ptlab checkpoints, SLURM requeues."""
    setup = "bert-full_finetune"
    expected, expected_predictions = reference(setup, tmp_path_factory, cli_cache)
    launcher = subprocess.Popen(
        ptlab_cmd("-m", *LAUNCHER, *SETUPS[setup]),
        env=slurm_env(slurm_cluster, tmp_path, cli_cache),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while not list(tmp_path.rglob("last.ckpt")):
        assert time.monotonic() < deadline and launcher.poll() is None, launcher.communicate()[1][-3000:]
        time.sleep(0.05)
    (run_dir,) = run_dirs(tmp_path)
    job = record(run_dir)["launch"].split("-")[1]  # slurm-<job id>-<restart count>-<step>
    if how == "preemption-signal":
        slurm_cluster.run("scancel", "--signal=USR1", job)
    else:
        slurm_cluster.run("scontrol", "requeue", job)
    _, stderr = launcher.communicate(timeout=PROCESS_TIMEOUT)
    assert launcher.returncode == 0, stderr[-3000:]

    assert slurm_cluster.job_info(job)["Restarts"] == "1"
    interrupted, resumed = record(run_dir / "attempts" / "1"), record(run_dir)
    assert interrupted["status"] == "preempted"
    assert interrupted["error"].startswith(f"preempted by SIG{'USR1' if how == 'preemption-signal' else 'TERM'}")
    assert resumed["status"] == "completed" and resumed["launch"].startswith(f"slurm-{job}-1-")
    assert resumed["resumed_from_step"] >= 7
    assert resumed["metrics"] == expected["metrics"] and resumed["best"] == expected["best"]
    assert (run_dir / "predictions_val.jsonl").read_text() == expected_predictions


def test_srun_two_task_cpu_ddp_job(slurm_cluster, tmp_path, cli_cache):
    command = " ".join(
        ["srun", *ptlab_cmd("trainer=ddp_cpu", "model=tiny-llama", "method=prompt_tuning", "debug=smoke")]
    )
    env = slurm_env(slurm_cluster, tmp_path, cli_cache)
    names = ("PTLAB_LOG_DIR", "PTLAB_CACHE_DIR", "PTLAB_DATA_DIR", "HF_HUB_OFFLINE")
    exported = ",".join(f"{k}={env[k]}" for k in names)
    job = slurm_cluster.sbatch(
        "-N1",
        "--ntasks-per-node=2",
        "--cpus-per-task=1",
        f"--time={PROCESS_TIMEOUT // 60}",
        f"--chdir={tmp_path}",
        f"--export=ALL,{exported}",
        f"--output={tmp_path}/slurm-%j.out",
        f"--wrap={command}",
    )
    result = slurm_cluster.wait_job(job, timeout=PROCESS_TIMEOUT)
    log = (tmp_path / f"slurm-{job}.out").read_text()
    assert result.state == "COMPLETED", log[-3000:]
    (run_dir,) = run_dirs(tmp_path)
    run = record(run_dir)
    assert run["status"] == "completed" and run["world_size"] == 2
    # every validation example scored once across the two ranks, gathered in order
    predictions = (run_dir / "predictions_val.jsonl").read_text().splitlines()
    assert len(predictions) == run["data"]["validation"] == 16
