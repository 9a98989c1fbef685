"""One process owns a run dir: the same command started twice must not train twice into it.

An `fcntl.flock` on `<run dir>/.lock` is held for the run's whole life. The kernel drops it when
the process ends in any way, `kill -9` included, so a stale lock cannot exist; the file stays
(unlinking it would let two processes lock two different files). Its text names the owner for the
error the second process prints. A requeued SLURM job is the same run: when the owner is an earlier
launch of the same job (still being killed), it is waited for instead of refused.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union

from ptlab.errors import RunDirError
from ptlab.run.launch import slurm_job_id
from ptlab.run.directory import RunDir

REQUEUE_WAIT_SECONDS = 120.0


def _job() -> str:
    return f"slurm_job={slurm_job_id()}" if "SLURM_JOB_ID" in os.environ else ""


def _owner() -> str:
    return " ".join(filter(None, [f"pid={os.getpid()}", f"host={socket.gethostname()}", _job()]))


@contextmanager
def owning(run_dir: Union[Path, RunDir]) -> Iterator[None]:
    """Hold the run dir's lock while the body runs; RunDirError names the owner if it is taken."""
    path = RunDir.of(run_dir).lock
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if _acquire(fd, path):
            os.ftruncate(fd, 0)
            os.pwrite(fd, (_owner() + "\n").encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _acquire(fd: int, path: Path) -> bool:
    """Take the lock (True), or run unlocked where the filesystem has no locks (False)."""
    deadline = None
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
            same_job = bool(_job()) and _job() in holder.split()
            if same_job and deadline is None:
                deadline = time.monotonic() + REQUEUE_WAIT_SECONDS
            if not same_job or time.monotonic() > deadline:
                raise RunDirError(
                    f"run directory {path.parent} is in use by {holder} (lock {path}); wait for it to "
                    f"finish or stop it, or choose another run (name=..., seed=...)"
                ) from None
            time.sleep(0.5)
        except OSError as err:
            if err.errno not in (errno.ENOSYS, errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                raise
            print(
                f"ptlab: note: {path.parent} is on a filesystem without file locks ({err.strerror}); "
                f"the run dir is not locked: do not start the same run twice",
                file=sys.stderr,
            )
            return False
