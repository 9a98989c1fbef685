"""Running ptlab-train as a real process, the way users do, for the tests that need one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from small_data import small_data_dir

# How long a test waits for a ptlab process (or a SLURM job running one) before calling it hung.
# Not a speed check: these processes take seconds to ~2 min on an idle 2-core machine, and a
# machine shared by several test runs is many times slower (a 600 s limit was hit that way).
# setup.cfg's per-test limit is a backstop above any one test's process limits added up.
PROCESS_TIMEOUT = 1500

FULL_DATA = Path(os.environ.get("PTLAB_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
REAL_DATA = small_data_dir(FULL_DATA)  # the real files, SST-2's training file cut (tests/small_data.py)


def ptlab_env(log_dir: Path, cache: Path, data_dir: Optional[Path] = REAL_DATA) -> Dict[str, str]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "PTLAB_LOG_DIR": str(log_dir),
        "PTLAB_CACHE_DIR": str(cache),
    }
    env.pop("PTLAB_DATA_DIR", None)
    if data_dir is not None:
        env["PTLAB_DATA_DIR"] = str(data_dir)
    return env


def ptlab_cmd(*overrides: str) -> List[str]:
    return [sys.executable, "-m", "ptlab.train", *overrides]


def ptlab_ok(
    *overrides: str, log_dir: Path, cache: Path, command: Optional[List[str]] = None, data_dir: Path = REAL_DATA
) -> subprocess.CompletedProcess:
    """`ptlab-train <overrides>` (or `command` + overrides) as a process run from beside `log_dir`;
    it must exit 0."""
    proc = subprocess.run(
        [*command, *overrides] if command else ptlab_cmd(*overrides),
        env=ptlab_env(log_dir, cache, data_dir),
        cwd=log_dir.parent,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
    )
    assert proc.returncode == 0, f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr[-5000:]}"
    return proc


def run_dirs(log_dir: Path) -> List[Path]:
    """Every run dir under a log dir (earlier attempts under attempts/<n>/ are not runs)."""
    return sorted(p.parent for p in Path(log_dir).rglob("results.json") if p.parent.parent.name != "attempts")


def record(run_dir: Path) -> Dict[str, Any]:
    return json.loads((Path(run_dir) / "results.json").read_text())
