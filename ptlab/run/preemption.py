"""Preemption: a signal becomes a checkpoint at the next step boundary, then a requeue.

One owner of requeue: ptlab. SLURM sends the preemption signal (USR1 by default) before a time
limit; ptlab saves last.ckpt after the current optimizer step, records the run as preempted and,
inside a SLURM job, runs `scontrol requeue` for it. SIGTERM (a preempting job, `scontrol
requeue`, `scancel`) saves the same way but requeues nothing itself: SLURM requeues preempted
jobs on its own, and a cancelled job should stay cancelled. Lightning's own SLURM auto-requeue
and submitit's are switched off, so exactly one component acts.

Signal handlers only set a flag; the checkpoint is written from the training loop, where the
model, optimizer and data position are consistent (ptlab/run/checkpointing.py). Ctrl-C is not a
preemption: it stops the run at once, keeping the checkpoints already written.
"""

from __future__ import annotations

import os
import signal
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Optional

from ptlab.config.schema import PreemptionConfig
from ptlab.run.launch import global_rank, slurm_job_id


class Preempted(Exception):
    def __init__(self, signame: str, step: Optional[int], checkpoint: Optional[Path]):
        saved = (
            f"at step {step}; checkpoint saved to {checkpoint}"
            if checkpoint
            else "outside a training step; the last checkpoint is kept"
        )
        super().__init__(f"preempted by SIG{signame} {saved}")
        self.signame, self.step, self.checkpoint = signame, step, checkpoint


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) stopped a run, which is recorded as interrupted; the CLI prints this line
    (saying how to resume when a checkpoint is left) and exits 130, as a shell does."""


def interruption(err: BaseException) -> bool:
    """Whether `err` is Ctrl-C, also as Lightning reports it: its trainer catches the
    KeyboardInterrupt, runs the callbacks' `on_exception` and calls `sys.exit(1)` in its handler
    (lightning.pytorch.trainer.call._call_and_handle_interrupt, checked on Lightning 2.6.6), so
    the SystemExit's context is the KeyboardInterrupt."""
    return isinstance(err, KeyboardInterrupt) or (
        isinstance(err, SystemExit) and isinstance(err.__context__, KeyboardInterrupt)
    )


def signum(name: str) -> int:
    """The number of a signal named without its SIG prefix (USR1, TERM)."""
    return getattr(signal, f"SIG{name}")


class SignalFlag:
    """Records the first preemption signal received; installing it again is harmless."""

    def __init__(self, config: PreemptionConfig):
        self.signums = {signum(config.signame), signal.SIGTERM}
        self.received: Optional[str] = None
        self._previous: Dict[int, object] = {}

    def _handle(self, number, frame) -> None:
        if self.received is None:
            self.received = signal.Signals(number).name.removeprefix("SIG")

    def install(self) -> None:
        for number in self.signums:
            previous = signal.signal(number, self._handle)
            self._previous.setdefault(number, previous)

    def restore(self) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)
        self._previous.clear()


@contextmanager
def watching(config: PreemptionConfig):
    flag = SignalFlag(config)
    flag.install()
    try:
        yield flag
    finally:
        flag.restore()


def requeue(stop: Preempted, config: PreemptionConfig) -> str:
    """Requeue this SLURM job if the signal asks for it; returns what happened, for the log."""
    if stop.signame != config.signame:
        return "SIGTERM: not requeued by ptlab (SLURM requeues preempted jobs; run the same command to resume)"
    if not config.requeue or "SLURM_JOB_ID" not in os.environ:
        return "not in a SLURM job: run the same command to resume"
    restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0"))
    if restarts >= config.max_requeues:
        return f"not requeued: {restarts} requeues already (preemption.max_requeues={config.max_requeues})"
    if global_rank() != 0:
        return "rank 0 requeues the job"
    job = slurm_job_id()
    done = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True, timeout=60)
    if done.returncode:
        return f"scontrol requeue {job} failed: {done.stderr.strip()}"
    return f"requeued SLURM job {job} (restart {restarts + 1} of at most {config.max_requeues})"
