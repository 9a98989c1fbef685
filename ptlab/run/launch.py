"""Which process of a launch this is, and one decision per launch about the run dir.

Under DDP every rank runs `train()`: srun and torchrun start them together, Lightning's own
launcher re-runs the command for ranks > 0. Only rank 0 reads and writes the run dir; the others
wait for its decision (start / resume / skip), recorded in results.json under this launch's token,
so no rank can resume while another starts over. The decision lives in `<run dir>/.decision`
(results.json is left untouched when a completed run is skipped), tagged with the launch's token.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Union

from ptlab.errors import RunDirError
from ptlab.run.record import write_json
from ptlab.run.decision import Decision
from ptlab.run.directory import RunDir

RANK_KEYS = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")  # Lightning's order
TOKEN_ENV = "PTLAB_LAUNCH"


def global_rank() -> int:
    for key in RANK_KEYS:
        if key in os.environ:
            return int(os.environ[key])
    return 0


def launch_token() -> str:
    """Shared by every rank of one launch and different for the next (a requeue is a new launch)."""
    if TOKEN_ENV not in os.environ:
        if "SLURM_JOB_ID" in os.environ:
            # each srun of one job is a step of its own: a relaunch inside one allocation is new
            token = (
                f"slurm-{slurm_job_id()}-{os.environ.get('SLURM_RESTART_COUNT', '0')}"
                f"-{os.environ.get('SLURM_STEP_ID', 'batch')}"
            )
        elif "TORCHELASTIC_RUN_ID" in os.environ:
            token = f"torchrun-{os.environ['TORCHELASTIC_RUN_ID']}-{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}"
        else:
            token = uuid.uuid4().hex
        os.environ[TOKEN_ENV] = token  # ranks that Lightning's launcher starts inherit it
    return os.environ[TOKEN_ENV]


def slurm_job_id() -> str:
    """The id `scontrol` knows this job by (an array task is <array job>_<task>)."""
    if "SLURM_ARRAY_JOB_ID" in os.environ:
        return f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return os.environ["SLURM_JOB_ID"]


def record_decision(run_dir: Union[Path, RunDir], token: str, decision: Decision, error: str = "") -> None:
    """Rank 0: what this launch does with the run dir (or that it refused), for ranks > 0."""
    write_json(
        RunDir.of(run_dir).decision,
        {
            "launch": token,
            "action": decision.action,
            "error": error,
            "checkpoint": str(decision.checkpoint) if decision.checkpoint else None,
        },
    )


def rank_zero_decision(run_dir: Union[Path, RunDir], token: str, timeout: float = 3600.0) -> Decision:
    """For ranks > 0: wait until rank 0 has decided this launch's action for the run dir.

    Only a decision of this launch counts (an earlier launch's may still be on disk). Rank 0 may
    hash data files and check a large checkpoint first, so the wait is long; it only guards
    against a rank 0 that died before deciding.
    """
    deadline = time.monotonic() + timeout
    path = RunDir.of(run_dir).decision
    while time.monotonic() < deadline:
        try:
            decided = json.loads(path.read_text())
        except (OSError, ValueError):
            decided = {}
        if decided.get("launch") == token:
            if decided["action"] == "refused":
                raise RunDirError(f"rank {global_rank()}: rank 0 refused the run dir: {decided['error']}")
            checkpoint = decided.get("checkpoint")
            return Decision(decided["action"], Path(checkpoint) if checkpoint else None)
        time.sleep(0.2)
    raise RunDirError(
        f"rank {global_rank()}: rank 0 did not record a decision in {path} within "
        f"{timeout:.0f} s (did it fail before training?)"
    )
