"""The test SLURM cluster (tests/slurm_cluster.py) runs real multi-task and requeued jobs."""

import socket
import sys
import textwrap

import pytest

from cli import PROCESS_TIMEOUT

pytestmark = pytest.mark.slow

ALL_REDUCE = textwrap.dedent("""\
    import os, sys
    from datetime import timedelta
    # the rendezvous from SLURM's environment, as a launcher would set it up
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=sys.argv[2],
                      RANK=os.environ["SLURM_PROCID"], WORLD_SIZE=os.environ["SLURM_NTASKS"])
    import torch
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method="env://", timeout=timedelta(seconds=int(sys.argv[3])))
    rank, world = dist.get_rank(), dist.get_world_size()
    t = torch.tensor([float(rank + 1)])
    dist.all_reduce(t)
    with open(f"{sys.argv[1]}.{rank}", "w") as f:
        f.write(f"{world} {t.item()}")
    dist.destroy_process_group()
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_srun_gloo_all_reduce_across_two_tasks(slurm_cluster, tmp_path):
    script = tmp_path / "all_reduce.py"
    script.write_text(ALL_REDUCE)
    out = tmp_path / "reduced"
    job = slurm_cluster.sbatch(
        "-n2",
        f"--time={PROCESS_TIMEOUT // 60}",
        f"--chdir={tmp_path}",
        f"--output={tmp_path}/slurm-%j.out",
        "--export=ALL,GLOO_SOCKET_IFNAME=lo,OMP_NUM_THREADS=1",
        "--wrap",
        f"srun -n2 {sys.executable} {script} {out} {_free_port()} {PROCESS_TIMEOUT}",
    )
    result = slurm_cluster.wait_job(job, timeout=PROCESS_TIMEOUT)
    log = next(tmp_path.glob("slurm-*.out")).read_text()
    assert (result.state, result.exit_code) == ("COMPLETED", 0), log
    # both ranks got 1 + 2, in a world of 2
    assert [(tmp_path / f"reduced.{r}").read_text() for r in (0, 1)] == ["2 3.0", "2 3.0"], log


def test_requeue_reruns_job_with_restart_count(slurm_cluster, tmp_path):
    runs = tmp_path / "runs.txt"
    # the first run waits to be requeued; the rerun (SLURM_RESTART_COUNT=1) finishes at once
    job = slurm_cluster.sbatch(
        "--requeue",
        f"--time={PROCESS_TIMEOUT // 60}",
        f"--chdir={tmp_path}",
        f"--output={tmp_path}/slurm-%j.out",
        "--wrap",
        f'echo "${{SLURM_RESTART_COUNT:-0}}" >> {runs}; '
        f'[ "${{SLURM_RESTART_COUNT:-0}}" -gt 0 ] || sleep {PROCESS_TIMEOUT}',
    )
    slurm_cluster.wait_state(job, "RUNNING", timeout=PROCESS_TIMEOUT)
    slurm_cluster.wait_until(lambda: runs.exists(), "first run started", timeout=PROCESS_TIMEOUT)
    slurm_cluster.run("scontrol", "requeue", str(job))
    result = slurm_cluster.wait_job(job, timeout=PROCESS_TIMEOUT)
    assert (result.state, result.exit_code, result.restarts) == ("COMPLETED", 0, 1), result.info
    assert runs.read_text().split() == ["0", "1"]
