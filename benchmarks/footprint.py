"""Peak memory and checkpoint size of each method: a real short `ptlab-train` run per method,
each in its own process (so no run inherits another's peak), read back from its results.json
and run dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

from ptlab.run.directory import RunDir

SHORT_RUN = [
    "data.k=64",
    "data.eval_limit=32",
    "data.batch_size=8",
    "trainer.max_steps=4",
    "trainer.val_check_interval=4",
    "trainer.enable_progress_bar=false",
    "logger=none",
]


def _bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


def measure(model: str, task: str, methods: List[str], cache: str) -> Dict[str, Dict[str, object]]:
    result = {}
    with tempfile.TemporaryDirectory() as logs:
        for method in methods:
            env = {**os.environ, "PTLAB_LOG_DIR": f"{logs}/{method}", "PTLAB_CACHE_DIR": cache, "HF_HUB_OFFLINE": "1"}
            proc = subprocess.run(
                [sys.executable, "-m", "ptlab.train", f"model={model}", f"method={method}", f"task={task}", *SHORT_RUN],
                env=env,
                capture_output=True,
                text=True,
            )
            if proc.returncode:
                raise RuntimeError(f"{method}: ptlab-train exited {proc.returncode}\n{proc.stderr[-3000:]}")
            run_dir = next(RunDir.under(Path(logs, method)))
            record = json.loads(run_dir.results.read_text())
            result[method] = {
                "peak_memory_bytes": record["memory"]["peak_memory_bytes"],
                "memory_kind": record["memory"]["memory_kind"],
                "trainable": record["params"]["trainable"],
                "checkpoint_bytes": _bytes(run_dir.last_ckpt) if run_dir.last_ckpt.exists() else None,
                "adapter_bytes": _bytes(run_dir.adapter) if run_dir.adapter.exists() else None,
            }
    return result
