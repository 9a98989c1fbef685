"""ptlab's overhead and fast paths, measured side by side in one process (not a test).

    PTLAB_DATA_DIR=../shared/data python benchmarks/bench.py --model smollm2-135m --out benchmarks/results/cpu-smollm2.json

1. training throughput (non-padding tokens/s) of each method through ptlab (Lightning) vs a raw
   PyTorch loop doing the same work: the same model object, batches, optimizer and clipping;
2. rank scoring: ptlab's scorer vs scoring each choice in its own full forward pass (the
   lm-evaluation-harness way), with the predictions of both compared;
3. start-up: the import of ptlab-train, a first vs a cached model load and tokenization.
Each ratio is measured within one run on one machine, so machine speed cancels out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

REPO = Path(__file__).resolve().parents[1]
TRAINED = ("prompt_tuning", "prefix_tuning", "full_finetune")


def make_run(model: str, method: str, task: str, cache: str, *extra: str):
    from ptlab.config import validate

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[f"model={model}", f"method={method}", f"task={task}",
                                          f"paths.cache_dir={cache}", "paths.output_dir=/tmp/ptlab-bench",
                                          "data.k=256", "data.eval_limit=64", *extra])
    return validate(cfg)


def _batches(data, count: int):
    loader = iter(data.train_dataloader())
    return [next(loader) for _ in range(count)]


def ptlab_throughput(module, data, warmup: int, steps: int) -> float:
    """Tokens/s of Lightning's loop over steps warmup..warmup+steps (timed from the first
    timed batch's start to the last one's end, so set-up is not counted)."""
    import lightning as L

    marks = {}

    class Clock(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if trainer.global_step == warmup:
                marks["start"], marks["tokens"] = time.perf_counter(), pl_module.train_tokens

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            marks["end"], marks["tokens_end"] = time.perf_counter(), pl_module.train_tokens

    trainer = L.Trainer(max_steps=warmup + steps, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                        gradient_clip_val=1.0, accelerator="cpu", callbacks=[Clock()])
    trainer.fit(module, train_dataloaders=data.train_dataloader())
    return (marks["tokens_end"] - marks["tokens"]) / (marks["end"] - marks["start"])


def raw_throughput(module, batches, warmup: int) -> float:
    """The same steps by hand: loss, backward, clip, AdamW step, scheduler-free."""
    model, adapter = module.model.train(), module.adapter
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(module.parameter_groups(), lr=module.run.method.lr)
    tokens, start = 0, None
    for i, batch in enumerate(batches):
        if i == warmup:
            start = time.perf_counter()
        loss = adapter.loss(model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if i >= warmup:
            tokens += int(batch["attention_mask"].sum())
    return tokens / (time.perf_counter() - start)


def scoring(module, data) -> dict:
    """ptlab's scorer vs one full forward per choice (logits at every position, then gathered)."""
    from ptlab.models.families import _to, token_logprobs

    model, adapter = module.model.eval(), module.adapter
    batches = list(data.val_dataloader())

    def per_choice(batch):
        columns = []
        for choice in adapter.choice_ids:
            inputs = _to(adapter._with_answers(batch["prompt_ids"], [choice] * len(batch["prompt_ids"])), model)
            logits = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits
            sums, _ = token_logprobs(logits[:, :-1], inputs["labels"][:, 1:])
            columns.append(sums)
        return torch.stack(columns, dim=1)

    timings, predictions = {}, {}
    with torch.no_grad():
        for name, fn in (("ptlab", lambda b: adapter.score(model, b)[0]), ("per_choice", per_choice)):
            start = time.perf_counter()
            predictions[name] = torch.cat([fn(b).argmax(-1) for b in batches]).tolist()
            timings[name] = time.perf_counter() - start
    return {"examples": len(predictions["ptlab"]), "labels": len(adapter.choice_ids),
            "ptlab_seconds": timings["ptlab"], "per_choice_seconds": timings["per_choice"],
            "speedup": timings["per_choice"] / timings["ptlab"],
            "identical_predictions": predictions["ptlab"] == predictions["per_choice"],
            "single_forward_path": bool(getattr(adapter, "single_token_choices", False))}


def startup(model: str, task: str) -> dict:
    """Import time of ptlab-train (a fresh interpreter), and first vs cached model load and
    tokenization in a fresh cache directory."""
    from ptlab.data.datamodule import TaskDataModule
    from ptlab.models.families import make_adapter
    from ptlab.models.loading import load_model, load_tokenizer

    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import ptlab.train"], check=True)
    result = {"import_ptlab_train_seconds": time.perf_counter() - start}
    with tempfile.TemporaryDirectory() as cache:
        run = make_run(model, "zero_shot" if model != "minilm-l6" else "prompt_tuning", task, cache)
        for attempt in ("first", "cached"):
            start = time.perf_counter()
            tokenizer = load_tokenizer(run.model, cache)
            load_model(run.model, cache, num_labels=len(run.task.labels))
            result[f"model_load_{attempt}_seconds"] = time.perf_counter() - start
            data = TaskDataModule(run, make_adapter(run.model.family, tokenizer, run.task))
            data.read()
            start = time.perf_counter()
            data.setup()
            result[f"tokenize_{attempt}_seconds"] = time.perf_counter() - start
    result["tokenize_cache_speedup"] = result["tokenize_first_seconds"] / result["tokenize_cached_seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--task", default="sst2")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--cache", default=str(Path.home() / ".cache" / "ptlab"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from ptlab.train import build_run

    torch.manual_seed(0)
    results = {"model": args.model, "task": args.task, "threads": torch.get_num_threads(), "training": {}}
    for method in TRAINED:
        data, module = build_run(make_run(args.model, method, args.task, args.cache))
        data.setup()
        batches = _batches(data, args.warmup + args.steps)
        ours = ptlab_throughput(module, data, args.warmup, args.steps)
        raw = raw_throughput(module, batches, args.warmup)
        results["training"][method] = {"ptlab_tokens_per_second": ours, "raw_tokens_per_second": raw,
                                       "ratio": ours / raw}
        print(f"{method:14s} ptlab {ours:8.1f} tok/s   raw loop {raw:8.1f} tok/s   ratio {ours / raw:.3f}", flush=True)
    if args.model != "minilm-l6":
        data, module = build_run(make_run(args.model, "zero_shot", args.task, args.cache))
        data.setup()
        results["scoring"] = scoring(module, data)
        print("scoring", json.dumps(results["scoring"]), flush=True)
    results["startup"] = startup(args.model, args.task)
    print("startup", json.dumps(results["startup"]), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
