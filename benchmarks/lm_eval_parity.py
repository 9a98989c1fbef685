"""ptlab against lm-evaluation-harness on SST-2 (not a test): the same model folder, template,
choices and examples, each tool as a whole process, side by side in one run.

    PTLAB_DATA_DIR=../shared/data python benchmarks/lm_eval_parity.py --rounds 3 \
        --out benchmarks/results/cpu-smollm2-135m-lm-eval.json

lm-eval (its `hf` model, a `multiple_choice` task written here) scores each choice after the
prompt from a forward with logits at every position; ptlab's rank scorer reads them at the
prompt's last position. The per-example log-likelihoods and the accuracy must agree, so ptlab's
figures can stand beside lm-eval's. Times: each whole process, and each tool's own evaluation
(lm-eval: its log-likelihood pass; ptlab: `time.eval_seconds`, its test pass over dev.tsv and one
validation example), medians over `--rounds` with the tools alternating which goes first. Both
start with cold data caches.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Dict, List, Optional

import yaml

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = "Review: {sentence}\nSentiment:"  # conf/task/sst2.yaml's `review` template
CHOICES = [" negative", " positive"]  # its verbalizers, label 0 and 1


def smollm2_dir(cache: str) -> Path:
    """The plain HF folder ptlab dequantizes SmolLM2's GGUF into (converted here if not yet)."""
    from ptlab.config.schema import Family, ModelConfig
    from ptlab.models.gguf import gguf_model_dir
    from ptlab.models.loading import resolve_source

    with open(REPO / "conf/model/smollm2-135m.yaml") as f:
        cfg = ModelConfig(**{**yaml.safe_load(f), "family": Family.causal})
    return gguf_model_dir(cfg, resolve_source(cfg), cache)


def sst2_dev(data_dir: Path, limit: Optional[int], work: Path) -> Path:
    """The data dir both tools read: the real one, or one with the first `limit` dev rows (and the
    real train.tsv, from which ptlab carves its validation split)."""
    if limit is None:
        return data_dir
    lines = (data_dir / "sst2/dev.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    (work / "data/sst2").mkdir(parents=True, exist_ok=True)
    (work / "data/sst2/dev.tsv").write_text("".join(lines[: limit + 1]), encoding="utf-8")
    (work / "data/sst2/train.tsv").symlink_to((data_dir / "sst2/train.tsv").resolve())
    return work / "data"


def lm_eval_task(tasks: Path, data_dir: Path) -> str:
    """An lm-eval task for the same file, template and choices. The TSV is read as ptlab reads it
    (no quoting, no NA parsing); target_delimiter "" so each continuation is exactly a verbalizer."""
    task = {
        "task": "ptlab_sst2",
        "dataset_path": "csv",
        "dataset_kwargs": {
            "data_files": {"validation": str(data_dir / "sst2/dev.tsv")},
            "delimiter": "\t",
            "quoting": csv.QUOTE_NONE,
            "na_filter": False,
        },
        "output_type": "multiple_choice",
        "validation_split": "validation",
        "doc_to_text": TEMPLATE.replace("{sentence}", "{{sentence}}"),
        "doc_to_choice": CHOICES,
        "doc_to_target": "label",
        "target_delimiter": "",
        "metric_list": [{"metric": "acc"}],
    }
    tasks.mkdir(parents=True, exist_ok=True)
    (tasks / "ptlab_sst2.yaml").write_text(yaml.safe_dump(task, allow_unicode=True))
    return task["task"]


def _run(what: str, cmd: List[str], env: Dict[str, str]) -> float:
    """The wall time of `cmd`, a whole process."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode:
        raise RuntimeError(f"{what} exited {proc.returncode}\n{proc.stderr[-3000:]}")
    return seconds


def run_lm_eval(model_dir: Path, data_dir: Path, work: Path, batch: int) -> Dict[str, object]:
    """lm-eval in a process of its own (`lm_eval_worker`), its HF dataset cache cold."""
    name, out = lm_eval_task(work / "tasks", data_dir), work / "lm_eval.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_CACHE": str(work / "hf_datasets")}
    job = json.dumps({"model_dir": str(model_dir), "tasks": str(work / "tasks"), "task": name, "batch": batch})
    wall = _run("lm-eval", [sys.executable, __file__, "--lm-eval-worker", job, "--out", str(out)], env)
    return {"wall_seconds": wall, **json.loads(out.read_text())}


def lm_eval_worker(job: dict) -> Dict[str, object]:
    """lm-eval's `hf` model through its Python API (what `lm-eval run` calls), given only our task
    (not its ~15k built-in ones, whose index the CLI builds first), the log-likelihood pass timed."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    lm = HFLM(pretrained=job["model_dir"], dtype="float32", device="cpu", batch_size=job["batch"])
    timed, seconds = lm.loglikelihood, []

    def loglikelihood(requests, *args, **kwargs):
        started = time.perf_counter()
        try:
            return timed(requests, *args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - started)

    lm.loglikelihood = loglikelihood
    tasks = TaskManager(include_path=job["tasks"], include_defaults=False)
    results = lm_eval.simple_evaluate(model=lm, tasks=[job["task"]], task_manager=tasks, log_samples=True)
    samples = sorted(results["samples"][job["task"]], key=lambda s: s["doc_id"])
    return {
        "eval_seconds": sum(seconds),
        "accuracy": results["results"][job["task"]]["acc,none"],
        "prompts": [s["arguments"][0][0] for s in samples],
        "logliks": [[float(r[0]) for r in s["filtered_resps"]] for s in samples],
        "gold": [int(s["target"]) for s in samples],
    }


def run_ptlab(model_dir: Path, data_dir: Path, work: Path, batch: int, model: str) -> Dict[str, object]:
    """ptlab-train zero-shot on the same folder (loaded as a plain HF dir), tokenization cache cold."""
    from ptlab.run.directory import RunDir

    logs, cache = tempfile.mkdtemp(dir=work, prefix="ptlab-runs-"), tempfile.mkdtemp(dir=work, prefix="ptlab-cache-")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PTLAB_LOG_DIR": logs, "PTLAB_CACHE_DIR": cache}
    env["PTLAB_DATA_DIR"] = str(data_dir)
    model_args = [f"model={model}", f"model.pretrained={model_dir}", "model.package=null", "model.gguf_file=null"]
    if "random_config" in yaml.safe_load((REPO / f"conf/model/{model}.yaml").read_text()):
        model_args.append("model.random_config=null")  # the folder's weights, not random ones
    # sst2's dev set is ptlab's test split; one validation example keeps its (unused) selection pass cheap
    model_args += ["method=zero_shot", "task=sst2", "data.eval_limit=1"]
    wall = _run("ptlab-train", [sys.executable, "-m", "ptlab.train", *model_args, f"data.eval_batch_size={batch}"], env)
    run_dir = next(RunDir.under(Path(logs)))
    record = json.loads(run_dir.results.read_text())
    rows = [json.loads(line) for line in run_dir.predictions("test").read_text().splitlines()]
    return {
        "wall_seconds": wall,
        "eval_seconds": record["time"]["eval_seconds"],
        "accuracy": record["metrics"]["test"]["accuracy"],
        "prompts": [r["prompt"] for r in rows],
        "logliks": [list(r["scores"].values()) for r in rows],
        "gold": [list(r["scores"]).index(r["gold"]) for r in rows],
    }


def compare(lm: Dict[str, object], pt: Dict[str, object]) -> Dict[str, object]:
    """Per example: the same prompt and gold label, the largest |log-likelihood difference|, and
    whether the two predictions (argmax) agree."""
    if lm["prompts"] != pt["prompts"] or lm["gold"] != pt["gold"]:
        raise AssertionError("lm-eval and ptlab did not score the same examples in the same order")
    diffs = [abs(a - b) for x, y in zip(lm["logliks"], pt["logliks"]) for a, b in zip(x, y)]
    same = [
        max(range(2), key=x.__getitem__) == max(range(2), key=y.__getitem__)
        for x, y in zip(lm["logliks"], pt["logliks"])
    ]
    return {
        "examples": len(diffs) // 2,
        "max_abs_loglik_diff": max(diffs),
        "predictions_agree": sum(same),
        "correct": {
            t: sum(max(range(2), key=s.__getitem__) == g for s, g in zip(r["logliks"], r["gold"]))
            for t, r in (("lm_eval", lm), ("ptlab", pt))
        },
    }


def measure(model_dir: Path, data_dir: Path, batch: int, rounds: int, model: str, limit: Optional[int]) -> dict:
    runs: Dict[str, List[Dict[str, object]]] = {"lm_eval": [], "ptlab": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data_dir = sst2_dev(data_dir, limit, work)
        for r in range(rounds):  # alternate which goes first, so a drift in machine speed hits both
            for tool in ("lm_eval", "ptlab") if r % 2 == 0 else ("ptlab", "lm_eval"):
                sub = Path(tempfile.mkdtemp(dir=work, prefix=f"{tool}-"))
                if tool == "lm_eval":
                    run = run_lm_eval(model_dir, data_dir, sub, batch)
                else:
                    run = run_ptlab(model_dir, data_dir, sub, batch, model)
                runs[tool].append(run)
                print(f"round {r}: {tool} {run['wall_seconds']:.1f} s, accuracy {run['accuracy']:.4f}", flush=True)
    lm, pt = runs["lm_eval"][0], runs["ptlab"][0]
    result = {"model_dir": str(model_dir), "batch_size": batch, "rounds": rounds, **compare(lm, pt)}
    result["accuracy"] = {"lm_eval": lm["accuracy"], "ptlab": pt["accuracy"]}
    for key in ("wall_seconds", "eval_seconds"):
        result[key] = {t: statistics.median(run[key] for run in runs[t]) for t in runs}
        result[key]["all"] = {t: [run[key] for run in runs[t]] for t in runs}
        result[key]["lm_eval_over_ptlab"] = result[key]["lm_eval"] / result[key]["ptlab"]
    return result


def summary(result: dict) -> str:
    acc, wall, evals = result["accuracy"], result["wall_seconds"], result["eval_seconds"]
    return "\n".join(
        [
            f"accuracy: lm-eval {acc['lm_eval']:.4f}, ptlab {acc['ptlab']:.4f} "
            f"(correct of {result['examples']}: {result['correct']})",
            f"largest per-example |log-likelihood difference|: {result['max_abs_loglik_diff']:.2e}",
            f"wall (whole process): lm-eval {wall['lm_eval']:.1f} s, ptlab {wall['ptlab']:.1f} s, "
            f"lm-eval / ptlab {wall['lm_eval_over_ptlab']:.2f}",
            f"evaluation (each tool's own figure): lm-eval {evals['lm_eval']:.1f} s, ptlab {evals['ptlab']:.1f} s, "
            f"lm-eval / ptlab {evals['lm_eval_over_ptlab']:.2f}",
        ]
    )


def main(argv=None) -> dict:
    import torch

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model-dir", help="an HF model folder (default: ptlab's dequantized SmolLM2)")
    p.add_argument("--model", default="smollm2-135m", help="ptlab's model config to override with --model-dir")
    p.add_argument("--data-dir", default=os.environ.get("PTLAB_DATA_DIR", str(REPO.parent / "shared/data")))
    p.add_argument("--cache", default=os.environ.get("PTLAB_CACHE_DIR", "~/.cache/ptlab"))
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--limit", type=int, help="the first N dev examples (default: all 872)")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--out", help="write the result as JSON here")
    p.add_argument("--lm-eval-worker", metavar="JOB", help=argparse.SUPPRESS)  # run_lm_eval's process
    args = p.parse_args(argv)
    if args.lm_eval_worker:
        return Path(args.out).write_text(json.dumps(lm_eval_worker(json.loads(args.lm_eval_worker))))
    model_dir = Path(args.model_dir) if args.model_dir else smollm2_dir(os.path.expanduser(args.cache))
    result = {"threads": torch.get_num_threads(), "cpus": os.cpu_count()}
    result["versions"] = {p: version(p) for p in ("lm_eval", "torch", "transformers", "lightning")}
    result.update(measure(model_dir, Path(args.data_dir), args.batch_size, args.rounds, args.model, args.limit))
    print(summary(result))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
