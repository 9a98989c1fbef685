"""In-context k-shot scoring: the demonstrations' key/value cache computed once per run (ptlab's
default) vs recomputing the whole context for every example (the lm-evaluation-harness way),
side by side in one process run, on the same model, examples and demonstrations (not a test).

    PTLAB_DATA_DIR=../shared/data python benchmarks/in_context.py --model smollm2-135m \
        --out benchmarks/results/cpu-smollm2-135m-in-context.json

Prints per k: seconds of each way over the evaluated examples, the speed-up, the largest score
difference (must be <= 1e-4) and whether both predict the same labels.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import make_run  # noqa: E402


def score_all(run) -> tuple:
    """Every evaluated example's summed scores (after a one-batch warm-up) and the seconds taken."""
    from ptlab.run.build import build_run

    data, module = build_run(run)
    model, reader, kind = module.model.eval(), module.reader, module.kind
    batches = list(data.val_dataloader())
    choices = kind.choice_ids(reader)
    with torch.no_grad():
        reader.score(model, batches[0]["prompt_ids"], choices)  # warm-up; builds the context cache once
        start = time.perf_counter()
        scores = torch.cat([reader.score(model, b["prompt_ids"], choices)[0] for b in batches])
        seconds = time.perf_counter() - start
    return scores, seconds, module.method.summary()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--task", default="sst2")
    parser.add_argument("--ks", default="4,16")
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--cache", default=str(Path.home() / ".cache" / "ptlab"))
    parser.add_argument("--out")
    args = parser.parse_args()
    result = {}
    for k in map(int, args.ks.split(",")):
        extra = (f"data.k={k}", f"data.eval_limit={args.examples}", "data.eval_batch_size=16")
        cached, t_cached, summary = score_all(make_run(args.model, "in_context", args.task, args.cache, *extra))
        full, t_full, _ = score_all(
            make_run(args.model, "in_context", args.task, args.cache, *extra, "method.reuse_cache=false")
        )
        result[f"k={k}"] = {
            "examples": len(cached),
            "context_tokens": summary["context_tokens"],
            "dropped": summary["dropped"],
            "cached_seconds": t_cached,
            "recomputed_seconds": t_full,
            "speedup": t_full / t_cached,
            "max_abs_score_difference": float((cached - full).abs().max()),
            "identical_predictions": torch.equal(cached.argmax(-1), full.argmax(-1)),
        }
        print(f"k={k}", json.dumps(result[f"k={k}"]), flush=True)
    print("| k | context tokens | cached | recomputed | speed-up | max abs score diff | same predictions |")
    print("|---|---|---|---|---|---|---|")
    for name, r in result.items():
        print(
            f"| {name[2:]} | {r['context_tokens']} | {r['cached_seconds']:.1f} s | {r['recomputed_seconds']:.1f} s | "
            f"{r['speedup']:.1f}x | {r['max_abs_score_difference']:.1e} | {r['identical_predictions']} |"
        )
    if args.out:
        Path(args.out).write_text(json.dumps({"model": args.model, "task": args.task, **result}, indent=2) + "\n")


if __name__ == "__main__":
    main()
