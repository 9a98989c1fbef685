"""Stopped decoding against decoding to max_target_length and lm-eval's `generate_until` (not a
test): SmolLM2-135M zero-shot on SQuAD and AESLC test prompts, greedy, side by side in one run.

    PTLAB_DATA_DIR=../shared/data python benchmarks/generation_stops.py --limit 100 \
        --rounds 3 --out benchmarks/results/cpu-smollm2-135m-generation-stops.json

Per task, the same prompts (ptlab's template, no truncation: lm-eval does not cut a prompt that
fits the model), in the same batches (lm-eval's order: longest first), the same stop sequences
(the newline; each side adds eos) and max new tokens (task.max_target_length), timed four ways,
each `--rounds` times with the order rotated every round (medians kept):

- `full`: ptlab's reader decoding every row to max_target_length (or eos), cut after: ptlab's
  decoding before stop sequences (`decode.stop_early=false`);
- `stopped`: the same reader, each row stopping at its prediction's end (ptlab/models/generate.py),
  under ptlab's default rule (a newline before the answer is read past);
- `stopped_lm_eval_rule`: the same, under lm-eval's rule (`decode.stop_at_start=true`: a leading
  newline ends the prediction at "");
- `lm_eval`: lm-eval 0.4.13's HFLM.generate_until on the same model folder, `until: ["\\n"]`.

Printed: identical predictions (stopped vs full's cut; lm-eval's rule vs lm-eval's text, stripped;
ptlab's default rule vs lm-eval, which differ where a generation starts with a newline), the new
tokens decoded (all rows, and the decoding steps of the batches: a batch runs until its last row
stops), the seconds of each and the speed-ups.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lm_eval_parity import smollm2_dir  # noqa: E402 - the SmolLM2 folder ptlab dequantizes the GGUF into

from ptlab.models.ending import Ending  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def prompts_of(task: str, limit: int, data_dir: str, cache: str, device: str):
    """ptlab's zero-shot SmolLM2 run on `task`: its reader, model and first `limit` test rows, untruncated."""
    from hydra import compose, initialize_config_dir

    from ptlab.config import resolvers
    from ptlab.run.build import build_run
    from ptlab.config.validation import validate

    resolvers.register()
    overrides = ["model=smollm2-135m", "method=zero_shot", f"task={task}", f"data.test_limit={limit}"]
    overrides += ["data.eval_limit=1", "task.max_source_length=8192", f"paths.data_dir={data_dir}"]
    overrides += [f"paths.cache_dir={cache}", "paths.output_dir=/tmp/ptlab-generation-stops"]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        run = validate(compose("train", overrides=overrides))
    data, module = build_run(run)
    return run, data.reader, module.model.to(device).eval(), list(data.splits["test"])


def batches(rows, size: int) -> List[list]:
    """lm-eval's order (longest prompt first, then by text), cut into batches of `size`."""
    ordered = sorted(rows, key=lambda r: (-len(r["prompt_ids"]), r["prompt"]))
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def timed(fn):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - started


def ptlab_pass(reader, model, groups, max_new: int, ending, early: bool) -> Dict[str, object]:
    def run():
        texts, decoded, steps = [], 0, 0
        with torch.no_grad():
            for group in groups:
                t, n = reader.generate(model, [r["prompt_ids"] for r in group], 1, max_new, ending, early)
                texts, decoded, steps = texts + t, decoded + sum(n), steps + max(n)
        return texts, decoded, steps

    (texts, decoded, steps), seconds = timed(run)
    return {"seconds": seconds, "texts": texts, "decoded_tokens": decoded, "batch_steps": steps}


def lm_eval_pass(lm, groups, max_new: int, stops: List[str]) -> Dict[str, object]:
    from lm_eval.api.instance import Instance

    kwargs = {"until": list(stops), "max_gen_toks": max_new, "do_sample": False}
    requests = [
        Instance("generate_until", {}, (r["prompt"], dict(kwargs)), i)
        for i, r in enumerate(r for group in groups for r in group)
    ]
    texts, seconds = timed(lambda: lm.generate_until(requests, disable_tqdm=True))
    return {"seconds": seconds, "texts": [t.strip() for t in texts]}


def rotated(runs: Dict[str, object], rounds: int) -> Dict[str, Dict[str, object]]:
    """Each pass `rounds` times, the order rotated every round (a machine's drift and the first
    pass's warm-up hit every pass alike); each pass's last result with its median seconds."""
    names, seconds, last = list(runs), {name: [] for name in runs}, {}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            last[name] = runs[name]()
            seconds[name].append(last[name]["seconds"])
    median = {name: statistics.median(seconds[name]) for name in names}
    return {name: {**last[name], "seconds": median[name], "rounds": seconds[name]} for name in names}


def measure(task: str, args) -> Dict[str, object]:
    from lm_eval.models.huggingface import HFLM

    run, reader, model, rows = prompts_of(task, args.limit, args.data_dir, args.cache, args.device)
    lm = HFLM(pretrained=str(smollm2_dir(args.cache)), dtype="float32", device=args.device, batch_size=args.batch)
    groups = batches(rows, args.batch)
    same_ids = sum(lm.tok_encode(r["prompt"]) == list(r["prompt_ids"]) for g in groups for r in g)
    stops, max_new = run.task.stops, run.task.max_target_length
    ptlab_rule, lm_eval_rule = Ending(tuple(stops)), Ending(tuple(stops), stop_at_start=True)
    runs = {
        "full": lambda: ptlab_pass(reader, model, groups, max_new, ptlab_rule, early=False),
        "stopped": lambda: ptlab_pass(reader, model, groups, max_new, ptlab_rule, early=True),
        "stopped_lm_eval_rule": lambda: ptlab_pass(reader, model, groups, max_new, lm_eval_rule, early=True),
        "lm_eval": lambda: lm_eval_pass(lm, groups, max_new, stops),
    }
    passes = rotated(runs, args.rounds)
    texts = {k: p["texts"] for k, p in passes.items()}
    differ = [
        {"prompt_end": r["prompt"][-80:], "ptlab": s, "lm_eval": e}
        for r, s, e in zip((r for g in groups for r in g), texts["stopped"], texts["lm_eval"])
        if s != e
    ]
    ours = ("full", "stopped", "stopped_lm_eval_rule")
    seconds = {k: p["seconds"] for k, p in passes.items()}
    return {
        "task": task,
        "prompts": len(rows),
        "prompts_tokenized_alike": same_ids,
        "max_new_tokens": max_new,
        "stops": stops,
        "seconds": {k: round(v, 3) for k, v in seconds.items()},  # medians over the rounds
        "rounds": {k: [round(x, 3) for x in p["rounds"]] for k, p in passes.items()},
        "decoded_tokens": {k: passes[k]["decoded_tokens"] for k in ours},
        "batch_steps": {k: passes[k]["batch_steps"] for k in ours},  # a batch runs to its last row
        "identical": {
            "stopped_vs_full": sum(a == b for a, b in zip(texts["stopped"], texts["full"])),
            "lm_eval_rule_vs_lm_eval": sum(a == b for a, b in zip(texts["stopped_lm_eval_rule"], texts["lm_eval"])),
            "ptlab_rule_vs_lm_eval": len(rows) - len(differ),
        },
        "speedup": {
            "full_over_stopped": round(seconds["full"] / seconds["stopped"], 2),
            "lm_eval_over_lm_eval_rule": round(seconds["lm_eval"] / seconds["stopped_lm_eval_rule"], 2),
        },
        "lm_eval_differs": differ[:10],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["squad", "aeslc"])
    parser.add_argument("--limit", type=int, default=100, help="test prompts per task")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="each pass this often, order rotated; medians")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared/data"))
    parser.add_argument("--cache", default=str(Path("~/.cache/ptlab").expanduser()))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = []
    for task in args.tasks:
        result = measure(task, args)
        results.append(result)
        print(json.dumps({k: v for k, v in result.items() if k != "lm_eval_differs"}), flush=True)
    if args.out:
        args.out.write_text(json.dumps({"device": args.device, "batch": args.batch, "tasks": results}, indent=1))


if __name__ == "__main__":
    main()
