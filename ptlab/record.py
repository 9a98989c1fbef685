"""A run's record on disk: one results format for every method, written atomically.

`results.json` is the contract between a run and everything that reads runs (reports, sweeps,
W&B): model, method, task, seed, metrics, parameter counts, memory, time, versions, status.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Dict, Optional

from ptlab.errors import RunDirError

RESULTS = "results.json"
SCHEMA_VERSION = 1


def write_text(path: Path, text: str) -> None:
    """Write via a temp file and rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.chmod(tmp, 0o644)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_json(path: Path, payload: Any) -> None:
    write_text(path, json.dumps(payload, indent=2, default=str) + "\n")


def read_results(run_dir: Path) -> Optional[Dict[str, Any]]:
    path = Path(run_dir) / RESULTS
    return json.loads(path.read_text()) if path.exists() else None


# Everything a run writes into its directory, i.e. what a forced rerun moves aside.
RUN_FILES = (RESULTS, "config.yaml", "metrics.csv", "checkpoints", "predictions_val.jsonl",
             "predictions_test.jsonl", "adapter")


def check_run_dir(run_dir: Path, if_exists: str) -> str:
    """Decide what to do with a run dir that may hold an earlier run; never lose what it holds.

    Returns "skip" (a completed run, left as it is), "resume" (continue from last.ckpt) or
    "start". With if_exists=resume (the default) re-launching a sweep skips finished runs and
    continues interrupted ones; if_exists=refuse makes either an error; if_exists=rerun starts
    over. Whatever a new attempt replaces moves to attempts/<n>/ first.
    """
    run_dir = Path(run_dir)
    previous = read_results(run_dir)
    last = last_checkpoint(run_dir)
    if if_exists == "rerun":
        _archive(run_dir, RUN_FILES)
        return "start"
    if previous and previous["status"] == "completed":
        if if_exists == "refuse":
            raise RunDirError(
                f"run directory {run_dir} already holds a completed run; refusing to overwrite it. "
                f"Pass if_exists=resume to leave it as it is, if_exists=rerun to run it again "
                f"(the earlier attempt moves to attempts/<n>/), or choose another run."
            )
        return "skip"
    if last is not None:
        if if_exists == "refuse":
            raise RunDirError(
                f"run directory {run_dir} holds an unfinished run with checkpoint {last}; refusing "
                f"to start over. Pass if_exists=resume to continue it, or if_exists=rerun to start over."
            )
        # The CSV logger starts metrics.csv afresh: keep the curve before the interruption.
        _archive(run_dir, [RESULTS, "metrics.csv"], keep=["metrics.csv"])
        return "resume"
    _archive(run_dir, [RESULTS, "config.yaml", "metrics.csv"])
    return "start"


def _archive(run_dir: Path, names, keep=()) -> None:
    """Move an earlier attempt's files to attempts/<n>/ (copy those in `keep`), beside the new one."""
    present = [n for n in names if (run_dir / n).exists()]
    if RESULTS not in present and "checkpoints" not in present:
        return
    done = [int(p.name) for p in (run_dir / "attempts").glob("*") if p.name.isdigit()]
    target = run_dir / "attempts" / str(max(done, default=0) + 1)
    target.mkdir(parents=True)
    for name in present:
        if name in keep:
            shutil.copy2(run_dir / name, target / name)
        else:
            os.replace(run_dir / name, target / name)


def last_checkpoint(run_dir: Path) -> Optional[Path]:
    path = Path(run_dir) / "checkpoints" / "last.ckpt"
    return path if path.exists() else None


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
        return {"peak_memory_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "memory_kind": "cpu_peak_rss_process"}


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
        commit = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip() != ""
        return {"commit": commit, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
