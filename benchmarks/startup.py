"""Start-up costs a sweep pays per run: the import of ptlab-train, a config error, a first vs a
cached model load (GGUF conversion for SmolLM2) and a first vs a cached tokenization of the
task's full training set, in a fresh cache directory."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict

HEAVY = ("lightning", "peft", "torch", "transformers")


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True)


def config_error() -> Dict[str, object]:
    """A bad value fails before any heavy import (read from `-X importtime`)."""
    proc = None

    def run():
        nonlocal proc
        proc = _python("-X", "importtime", "-m", "ptlab.train", "method.lr=0", "hydra.run.dir=/tmp/ptlab-bench-error")

    seconds = _seconds(run)
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    return {
        "config_error_seconds": seconds,
        "config_error_exit": proc.returncode,
        "config_error_heavy_imports": sorted(m for m in HEAVY if m in imported),
    }


def measure(make_run, model: str, task: str) -> Dict[str, object]:
    from ptlab.data.datamodule import TaskDataModule
    from ptlab.kinds import kind_of
    from ptlab.models.families import make_reader
    from ptlab.models.loading import load_model, load_tokenizer

    result = {"import_ptlab_train_seconds": _seconds(lambda: _python("-c", "import ptlab.train")), **config_error()}
    with tempfile.TemporaryDirectory() as cache:
        run = make_run(model, "prompt_tuning", task, cache, "data.k=null", "data.eval_limit=null")
        for attempt in ("first", "cached"):
            start = time.perf_counter()  # tokenizer and weights: both come from the GGUF file
            tokenizer = load_tokenizer(run.model, cache)
            kind = kind_of(run.task)
            head = kind.head(run.model.family)
            load_model(run.model, cache, head, kind.num_labels())
            result[f"model_load_{attempt}_seconds"] = time.perf_counter() - start
            data = TaskDataModule(run, make_reader(run.model.family, tokenizer, run.task, head), kind)
            data.read()
            result[f"tokenize_{attempt}_seconds"] = _seconds(data.setup)
        result["tokenized_examples"] = sum(len(split) for split in data.splits.values())
    result["model_load_speedup"] = result["model_load_first_seconds"] / result["model_load_cached_seconds"]
    result["tokenize_cache_speedup"] = result["tokenize_first_seconds"] / result["tokenize_cached_seconds"]
    return result
