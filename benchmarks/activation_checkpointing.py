"""Activation checkpointing on and off (not a test): peak RSS, step time and the losses of the
first steps, for SmolLM2-135M full fine-tuning and LoRA at sequence length 512 on CPU.

    PTLAB_DATA_DIR=../shared/data python benchmarks/activation_checkpointing.py \
        --out benchmarks/results/cpu-smollm2-135m-checkpointing.json

Each case runs in its own process (so no case inherits another's peak): ptlab builds the run as
ptlab-train does (the method wraps the backbone; `model.gradient_checkpointing` applied by the
shared module), then `--steps` AdamW steps over the trainable parameters on the same seeded
batches of `--batch-size` x 512 tokens (the last 32 are the answer the loss reads, as a
generation task's). Printed: each case's peak RSS over its RSS once built (what training added),
seconds per step after the first, and the largest loss difference between on and off.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ANSWER = 32  # answer tokens at the end of each row: the positions the loss reads


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def one(method: str, checkpointing: bool, steps: int, batch_size: int, length: int, data_dir: str, cache: str) -> dict:
    """One case in this process: build, train `steps` steps, measure."""
    import torch
    from hydra import compose, initialize_config_dir

    from ptlab.config import resolvers
    from ptlab.run.build import build_run
    from ptlab.models.tensors import IGNORE
    from ptlab.config.validation import validate

    torch.set_num_threads(2)
    resolvers.register()
    overrides = [
        "model=smollm2-135m",
        f"method={method}",
        "task=e2e_nlg",
        f"model.gradient_checkpointing={str(checkpointing).lower()}",
        "data.k=8",
        f"paths.data_dir={data_dir}",
        f"paths.cache_dir={cache}",
        "paths.output_dir=/tmp/ptlab-checkpointing-bench",
    ]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        run = validate(compose("train", overrides=overrides))
    data, module = build_run(run)
    model = module.model.train()
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=run.method.lr)
    vocab = data.reader.tokenizer.vocab_size
    generator = torch.Generator().manual_seed(0)
    batches = []
    for _ in range(steps):
        ids = torch.randint(10, vocab, (batch_size, length), generator=generator)
        labels = torch.full_like(ids, IGNORE)
        labels[:, -ANSWER:] = ids[:, -ANSWER:]
        batches.append({"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels})
    built = rss_bytes()
    losses, seconds = [], []
    for batch in batches:
        start = time.perf_counter()
        loss = module.kind.loss(module.reader, model, batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        seconds.append(time.perf_counter() - start)
        losses.append(float(loss))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "method": method,
        "checkpointing": checkpointing,
        "trainable": sum(p.numel() for p in trained),
        "rss_built_bytes": built,
        "peak_rss_bytes": peak,
        "training_added_bytes": peak - built,
        "seconds_per_step": sum(seconds[1:]) / max(1, len(seconds) - 1),
        "losses": losses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default="full_finetune,lora")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--length", type=int, default=512)
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--cache", default=str(Path.home() / ".cache" / "ptlab"))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "ON"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    shape = (args.steps, args.batch_size, args.length, args.data_dir, args.cache)
    if args.one:
        print(json.dumps(one(args.one[0], args.one[1] == "on", *shape)))
        return
    cases = []
    for method in args.methods.split(","):
        for on in ("off", "on"):
            command = [sys.executable, __file__, "--one", method, on, "--steps", str(args.steps)]
            command += ["--batch-size", str(args.batch_size), "--length", str(args.length)]
            command += ["--data-dir", args.data_dir, "--cache", args.cache]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode:
                sys.exit(f"{method} checkpointing {on}: exited {done.returncode}\n{done.stderr[-3000:]}")
            cases.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"SmolLM2-135M, batch {args.batch_size} x {args.length} tokens, {args.steps} steps, fp32, 2 threads\n")
    print("| method | checkpointing | peak RSS (MiB) | added by training (MiB) | s/step | max loss diff |")
    print("|---|---|---|---|---|---|")
    for off, on in zip(cases[::2], cases[1::2]):
        diff = max(abs(a - b) for a, b in zip(off["losses"], on["losses"]))
        off["max_loss_diff"] = on["max_loss_diff"] = diff
        for case in (off, on):
            state = "on" if case["checkpointing"] else "off"
            peak, added = case["peak_rss_bytes"] / 2**20, case["training_added_bytes"] / 2**20
            step = case["seconds_per_step"]
            print(f"| {case['method']} | {state} | {peak:.0f} | {added:.0f} | {step:.2f} | {diff:.2e} |")
        saved = 1 - on["training_added_bytes"] / off["training_added_bytes"]
        slower = on["seconds_per_step"] / off["seconds_per_step"]
        print(f"| {off['method']}: on/off | | | {saved:.0%} less | {slower:.2f}x | |")
    if args.out:
        args.out.write_text(
            json.dumps({"batch_size": args.batch_size, "length": args.length, "cases": cases}, indent=2)
        )


if __name__ == "__main__":
    main()
