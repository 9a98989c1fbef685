"""ptlab's overhead and fast paths, measured side by side in one process run (not a test).

    PTLAB_DATA_DIR=../shared/data python benchmarks/bench.py --model smollm2-135m \
        --out benchmarks/results/cpu-smollm2-135m.json

1. training throughput of each trained method: ptlab vs a raw PyTorch loop vs a plain Hugging
   Face Trainer script, same model object, batches, optimizer and clipping (throughput.py);
2. rank scoring vs one full forward per choice, with both predictions compared (scoring.py);
3. start-up: import, config error, first vs cached model load and tokenization (startup.py);
4. peak memory and checkpoint size per method, from real ptlab-train runs (footprint.py);
5. padding waste of the training batches, with and without length grouping.
Each ratio is measured within one run on one machine, so machine speed cancels out.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))
import footprint  # noqa: E402
import scoring  # noqa: E402
import startup  # noqa: E402
import throughput  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def methods(trained: bool) -> list:
    """The registry's methods that train (or not), in ptlab-report's order."""
    from ptlab.methods import registry

    return [m.name for m in sorted(registry().values(), key=lambda m: m.report_order) if m.trains == trained]


# Scoring cases on SST-2 beyond the task's own verbalizers: multi-token verbalizers (2 and 4 labels)
VERBALIZERS = {
    "multi-token, 2 labels": {"negative": " not good at all", "positive": " really very good"},
    "multi-token, 4 labels": {
        "awful": " utterly terrible",
        "bad": " rather bad",
        "good": " fairly good",
        "great": " truly wonderful",
    },
}


def compose_cfg(model: str, method: str, task: str, cache: str, *extra: str):
    from ptlab.config import resolvers

    resolvers.register()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(
            "train",
            overrides=[
                f"model={model}",
                f"method={method}",
                f"task={task}",
                f"paths.cache_dir={cache}",
                "paths.output_dir=/tmp/ptlab-bench",
                "data.k=256",
                "data.eval_limit=64",
                *extra,
            ],
        )


def make_run(model: str, method: str, task: str, cache: str, *extra: str):
    from ptlab.config.validation import validate

    return validate(compose_cfg(model, method, task, cache, *extra))


def padding(model: str, task: str, cache: str) -> dict:
    """Padded share of the training positions over one epoch of the full training set, without
    and with length grouping."""
    from ptlab.run.build import build_data

    result = {}
    for grouped in (False, True):
        data = build_data(
            make_run(model, "full_finetune", task, cache, "data.k=null", f"data.group_by_length={grouped}")
        )
        masks = [b["attention_mask"] for b in data.train_dataloader()]
        real = sum(int(m.sum()) for m in masks)
        result["grouped" if grouped else "shuffled"] = 1 - real / sum(m.numel() for m in masks)
    return result


def scoring_cases(model: str, task: str, cache: str) -> dict:
    from ptlab.kinds import kind_of
    from ptlab.run.build import build_run

    data, module = build_run(make_run(model, "zero_shot", task, cache))
    batches = list(data.val_dataloader())
    cases = {"task verbalizers": module.kind.choice_ids(module.reader)}
    for name, labels in VERBALIZERS.items():
        task_cfg = dataclasses.replace(module.run.task, labels=labels, max_target_length=8)
        cases[name] = kind_of(task_cfg).choice_ids(module.reader)
    return {name: scoring.compare(module.reader, choices, module.model, batches) for name, choices in cases.items()}


def training(args) -> dict:
    """Each trained method through ptlab-train's own Trainer (validation off), a raw loop and
    an HF Trainer script, for warm-up + timed steps."""
    from ptlab.config.validation import validate
    from ptlab.run.build import build_run

    result = {}
    for method in methods(trained=True):
        cfg = compose_cfg(
            args.model,
            method,
            args.task,
            args.cache,
            "trainer.accelerator=cpu",
            f"trainer.max_steps={args.warmup + args.steps}",
            "+trainer.limit_val_batches=0",
        )
        data, module = build_run(validate(cfg))
        result[method] = throughput.compare(module, data, cfg, args.steps, args.warmup, args.rounds)
        print(method, json.dumps(result[method]), flush=True)
    return result


def _causal(args) -> bool:
    return make_run(args.model, "prompt_tuning", args.task, args.cache).model.family.value == "causal"


PARTS = {
    "training": training,
    "scoring": lambda args: scoring_cases(args.model, args.task, args.cache) if _causal(args) else None,
    "footprint": lambda args: footprint.measure(
        args.model, args.task, (methods(trained=False) if _causal(args) else []) + methods(trained=True), args.cache
    ),
    "padding": lambda args: padding(args.model, args.task, args.cache),
    "startup": lambda args: startup.measure(make_run, args.model, args.task),
}


def table(results: dict) -> str:
    """The JSON's headline numbers as a Markdown table."""
    lines = ["| measurement | value |", "|---|---|"]
    for method, t in results.get("training", {}).items():
        lines.append(
            f"| {method}: ptlab / raw loop (tokens/s) | {t['ptlab_vs_raw']:.3f} "
            f"({t['ptlab_tokens_per_second']:.0f} vs {t['raw_tokens_per_second']:.0f}) |"
        )
        lines.append(
            f"| {method}: ptlab / HF Trainer + peft (tokens/s) | {t['ptlab_vs_hf_trainer']:.3f} "
            f"({t['ptlab_tokens_per_second']:.0f} vs {t['hf_trainer_tokens_per_second']:.0f}) |"
        )
    for name, s in (results.get("scoring") or {}).items():
        lines.append(
            f"| rank scoring, {name} (K={s['labels']}): speed-up vs per-choice | "
            f"{s['speedup']:.2f}x, identical predictions: {s['identical_predictions']} |"
        )
    for method, f in results.get("footprint", {}).items():
        ckpt = f"{f['checkpoint_bytes'] / 2**20:.1f} MiB" if f["checkpoint_bytes"] else "none"
        lines.append(
            f"| {method}: peak memory ({f['memory_kind']}), last.ckpt | "
            f"{f['peak_memory_bytes'] / 2**30:.2f} GiB, {ckpt} |"
        )
    if "padding" in results:
        p = results["padding"]
        lines.append(
            f"| padding share of training positions: shuffled vs length-grouped | "
            f"{p['shuffled']:.1%} vs {p['grouped']:.1%} |"
        )
    if "startup" in results:
        s = results["startup"]
        lines += [
            f"| import ptlab.train (fresh interpreter) | {s['import_ptlab_train_seconds']:.2f} s |",
            f"| config error: exit {s['config_error_exit']}, heavy imports {s['config_error_heavy_imports']} | "
            f"{s['config_error_seconds']:.2f} s |",
            f"| model load: first vs cached | {s['model_load_first_seconds']:.2f} s vs "
            f"{s['model_load_cached_seconds']:.2f} s |",
            f"| tokenization of {s['tokenized_examples']} examples: first vs cached | "
            f"{s['tokenize_first_seconds']:.2f} s vs {s['tokenize_cached_seconds']:.2f} s "
            f"({s['tokenize_cache_speedup']:.0f}x) |",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--task", default="sst2")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of: {', '.join(PARTS)}")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, the loops' order rotating; medians kept")
    parser.add_argument("--cache", default=str(Path.home() / ".cache" / "ptlab"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    parts = args.parts.split(",")
    if unknown := set(parts) - set(PARTS):
        parser.error(f"--parts: unknown {', '.join(sorted(unknown))} (choose from {', '.join(PARTS)})")

    torch.manual_seed(0)
    results = {
        "model": args.model,
        "task": args.task,
        "threads": torch.get_num_threads(),
        "steps": args.steps,
        "rounds": args.rounds,
    }
    for part in parts:
        if (measured := PARTS[part](args)) is not None:
            results[part] = measured
    print(table(results), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
