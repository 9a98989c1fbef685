"""A run's record on disk: one results format for every method, written atomically.

`results.json` is the contract between a run and everything that reads runs (reports, sweeps,
W&B): model, method, task, seed, metrics, parameter counts, memory, time, versions, status.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import resource
import subprocess
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Union

from ptlab.config import redaction
from ptlab.errors import RunDirError
from ptlab.run.directory import RunDir

if TYPE_CHECKING:
    from ptlab.config.schema import RunConfig

SCHEMA_VERSION = 4  # 4: baselines; 3: template; 2: fingerprint, resume_from, traceback


def write_text(path: Path, text: str) -> None:
    """Write via a temp file beside the target, fsync, then rename: a reader (or a crash, or a
    full disk) never leaves half a file, and a failed write leaves no temp file behind. Every
    secret this process knows is scrubbed first (ptlab/config/redaction.py): records hold error
    messages and tracebacks, which may echo one."""
    text = redaction.scrub(text)
    atomic_write(Path(path), lambda tmp: Path(tmp).write_text(text))


def atomic_write(path: Path, write: Callable[[str], Any]) -> None:
    """`write(tmp)` to `.<name>.<random>` in the target's own directory (a rename within one
    filesystem is atomic), flushed to disk before it replaces `path`; removed if anything fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o644)
        os.close(fd)
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        _fsync(path.parent)  # make the rename itself durable


# atomic_write's temp files: `.<name>.` and tempfile's 8 random characters, beside the target.
_TEMP = re.compile(r"\.(.+)\.[a-z0-9_]{8}")


def remove_dead_temps(run_dir: Union[Path, RunDir]) -> None:
    """Remove the temp files atomic_write left in a run dir or its checkpoints/ when its process
    was killed mid-write (kill -9, the OOM killer). Only for the run dir's lock holder, before it
    writes: no live process is writing there then."""
    run_dir = RunDir.of(run_dir)
    for folder in (run_dir.root, run_dir.checkpoints):
        for path in folder.glob(".*"):
            if _TEMP.fullmatch(path.name) and path.is_file():
                with contextlib.suppress(OSError):
                    path.unlink()


def _fsync(path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path, payload: Any) -> None:
    write_text(path, json.dumps(redaction.scrubbed(payload), indent=2, default=str) + "\n")


def read_results(run_dir: Union[Path, RunDir]) -> Optional[Dict[str, Any]]:
    path = RunDir.of(run_dir).results
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunDirError(f"{path}: not a readable run record ({err})") from None
    if not isinstance(record, dict):
        raise RunDirError(f"{path}: not a run record (a JSON {type(record).__name__}, not an object)")
    return record


class PeakMemory:
    """Peak memory of this run alone: CUDA allocator peak on GPU, peak RSS on CPU.

    On Linux the RSS high-water mark is reset per run (/proc/self/clear_refs), so runs of a
    multirun in one process do not inherit each other's peaks.
    """

    def __init__(self, device: str):
        self.device = device

    def reset(self) -> None:
        if self.device == "cuda":
            import torch

            torch.cuda.reset_peak_memory_stats()
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass

    def read(self) -> Dict[str, Any]:
        if self.device == "cuda":
            import torch

            return {"peak_memory_bytes": torch.cuda.max_memory_allocated(), "memory_kind": "cuda_allocated"}
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return {"peak_memory_bytes": int(line.split()[1]) * 1024, "memory_kind": "cpu_peak_rss"}
        except OSError:
            pass
        return {
            "peak_memory_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "memory_kind": "cpu_peak_rss_process",
        }


def versions() -> Dict[str, Any]:
    found = {"python": platform.python_version()}
    for name in ("torch", "transformers", "peft", "lightning", "datasets", "hydra-core", "ptlab"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def git_commit() -> Dict[str, Any]:
    """The commit of the ptlab source that ran, and whether it had uncommitted changes."""
    src = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = (
            subprocess.run(
                ["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
            != ""
        )
        return {"commit": commit, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def started_record(run: "RunConfig", out: RunDir, overrides: List[str]) -> Dict[str, Any]:
    """results.json as a run begins: what it is, where, and with which code (status running)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "status": "running",
        "error": None,
        "name": run.name,
        "model": run.model.name,
        "method": run.method.name,
        "task": run.task.name,
        "template": run.task.template if run.task.templates else None,  # a name from the task's library
        "seed": run.seed,
        "family": run.model.family.value,
        "overrides": overrides,
        "run_dir": str(out),
        "versions": versions(),
        "git": git_commit(),
        "started_at": now(),
    }


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
