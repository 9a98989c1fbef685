"""The GPU check (issue 27): what one GPU does with ptlab's methods, in minutes and offline.

    PYTHONPATH=. python benchmarks/gpu_check.py --out benchmarks/results/gpu-check.json

Randomly initialised models of two shapes (benchmarks/plans/*.json: SmolLM2-135M's and
Llama-3.2-1B's; nothing is downloaded), every trained method ptlab has (QLoRA where bitsandbytes
runs), activation checkpointing off and on, bf16-mixed over a bf16 base as `trainer.precision=
bf16-mixed +model.dtype=bfloat16` trains it: tokens/s, model-FLOPs utilisation (FLOPs from the
planner's count over the card's peak), peak allocated memory against ptlab-plan's prediction for
the same setting. One JSON; a case that fails records its error, and cases past `--budget-s` are
recorded as skipped, so the file always comes back. `--device cpu` runs the same code here (the
test suite runs one small case so the script cannot rot).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SHAPES = {"smollm2-135m-shape": "smollm2-135m", "llama-1b-shape": "llama-3.2-1b"}
BIG_SHAPE_METHODS = ("full_finetune", "lora", "qlora", "prompt_tuning")  # a 1B load costs seconds: fewer
CARDS = {"H100": "h100-80g", "H200": "h200-141g", "A100": "a100-80g", "L40S": "l40s-48g"}


def planner_device(device: str) -> str:
    if device == "cpu":
        return "cpu"
    name = torch.cuda.get_device_name()
    return next((v for k, v in CARDS.items() if k in name), "h100-80g")


def case(shape: str, method: str, checkpointing: bool, args, hardware: str) -> dict:
    from ptlab.errors import ConfigError
    from ptlab.models import training_memory
    from ptlab.models.loading import load_model
    from ptlab.planning.cli import plan_rows, planned_run
    from ptlab.planning.footprint import real_batch

    architecture = json.loads((ROOT / "benchmarks" / "plans" / f"{SHAPES[shape]}.json").read_text())
    overrides = ["model=tiny-llama", "task=sst2", f"model.gradient_checkpointing={str(checkpointing).lower()}"]
    overrides += [f"trainer.accelerator={'cpu' if args.device == 'cpu' else 'gpu'}"]
    if args.device != "cpu":
        overrides += ["trainer.precision=bf16-mixed", "+model.dtype=bfloat16"]
    try:
        (row,) = plan_rows(overrides, [method], hardware, 1, args.batch, args.length, 0.4, architecture)
    except ConfigError as err:  # e.g. prefix tuning with checkpointing: refused as a run would be
        return {"not_applicable": str(err)}
    if "not_applicable" in row:
        return {"not_applicable": row["not_applicable"]}
    run, kind, method_obj, reader, head = planned_run(overrides + [f"method={method}"], architecture)
    if args.device != "cpu":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated() if args.device != "cpu" else 0
    backbone = load_model(run.model, run.paths.cache_dir, head, kind.num_labels(), **method_obj.load_options())
    if method != "qlora":  # QLoRA's base is placed by its own load options
        backbone = backbone.to(args.device)
    model = method_obj.wrap(backbone, reader).train()
    training_memory.train_in_fp32(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    inputs = real_batch(head, args.batch, args.length, len(reader.tokenizer), args.device)
    autocast = torch.autocast(args.device, dtype=torch.bfloat16, enabled=args.device != "cpu")

    def step() -> None:
        with autocast:
            loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        step()
    sync = torch.cuda.synchronize if args.device != "cpu" else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync()
    seconds = (time.perf_counter() - start) / args.steps
    predicted = row["estimate"]
    flops = predicted["step_seconds"] * row["device_flops"] * 0.4  # the planner's FLOPs per step
    measured = torch.cuda.max_memory_allocated() - before if args.device != "cpu" else None
    return {
        "trainable": row["trainable"],
        "tokens_per_s": args.batch * args.length / seconds,
        "s_per_step": seconds,
        "mfu": flops / seconds / row["device_flops"],
        "peak_allocated": measured,
        "planned_peak": predicted["total"],
        "plan_error": (predicted["total"] / measured - 1) if measured else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gpu-check.json")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--methods", default="", help="comma-separated (default: every trained method)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=512)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--budget-s", type=float, default=420, help="cases after this are recorded as skipped")
    args = parser.parse_args()
    from ptlab.methods import registry

    trained = [n for n, m in sorted(registry().items(), key=lambda kv: kv[1].report_order) if m.trains]
    methods = [m for m in args.methods.split(",") if m] or trained
    hardware = planner_device(args.device)
    began, results = time.monotonic(), []
    for shape in args.shapes.split(","):
        for method in methods:
            if shape == "llama-1b-shape" and method not in BIG_SHAPE_METHODS and not args.methods:
                continue
            for checkpointing in (False, True):
                entry = {"shape": shape, "method": method, "checkpointing": checkpointing}
                if time.monotonic() - began > args.budget_s:
                    results.append({**entry, "skipped": f"past the {args.budget_s:.0f} s budget"})
                    continue
                try:
                    results.append({**entry, **case(shape, method, checkpointing, args, hardware)})
                except Exception as err:  # noqa: BLE001 - the file must come back with every case in it
                    results.append({**entry, "error": f"{type(err).__name__}: {err}"[:500]})
                print(json.dumps(results[-1]), flush=True)
    card = torch.cuda.get_device_name() if args.device != "cpu" else "cpu"
    meta = {"device": card, "planner_device": hardware, "batch": args.batch, "length": args.length}
    meta.update(torch=torch.__version__, seconds=round(time.monotonic() - began, 1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**meta, "cases": results}, indent=1))


if __name__ == "__main__":
    main()
