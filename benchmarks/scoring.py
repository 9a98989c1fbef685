"""Rank scoring: ptlab's scorer vs one full forward per label choice (the lm-evaluation-harness
way: prompt + choice as one sequence, logits at every position), with both predictions compared.

ptlab computes each prompt once: distinct single-token verbalizers need one forward per example;
longer ones continue from the prompt's key/value cache.
"""

from __future__ import annotations

import time
from typing import Dict, List

import torch
from transformers import BatchEncoding

from ptlab.models.tensors import token_logprobs


def per_choice(reader, choices, model, batch) -> torch.Tensor:
    columns = []
    for choice in choices:
        answers = reader.with_answers(batch["prompt_ids"], [choice] * len(batch["prompt_ids"]))
        inputs = BatchEncoding(answers).to(model.device)
        logits = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits
        sums, _ = token_logprobs(logits[:, :-1], inputs["labels"][:, 1:])
        columns.append(sums)
    return torch.stack(columns, dim=1)


def compare(reader, choices: List[List[int]], model, batches: List[dict]) -> Dict[str, object]:
    """Timings, and whether both ways predict the same labels by the summed score (`accuracy`)
    and by the per-token mean (`accuracy_norm`)."""
    model.eval()
    lengths = torch.tensor([len(c) for c in choices])
    timings, scores = {}, {}
    scorers = {
        "ptlab": lambda b: reader.score(model, b["prompt_ids"], choices)[0],
        "per_choice": lambda b: per_choice(reader, choices, model, b),
    }
    with torch.no_grad():
        for name, score in scorers.items():
            score(batches[0])  # warm-up: first-call costs are not the method's
            start = time.perf_counter()
            scores[name] = torch.cat([score(b).cpu() for b in batches])
            timings[name] = time.perf_counter() - start
    ours, theirs = scores["ptlab"], scores["per_choice"]
    return {
        "examples": len(ours),
        "labels": len(choices),
        "verbalizer_tokens": lengths.tolist(),
        "ptlab_seconds": timings["ptlab"],
        "per_choice_seconds": timings["per_choice"],
        "speedup": timings["per_choice"] / timings["ptlab"],
        "identical_predictions": torch.equal(ours.argmax(-1), theirs.argmax(-1)),
        "identical_predictions_norm": torch.equal((ours / lengths).argmax(-1), (theirs / lengths).argmax(-1)),
        "max_abs_score_difference": float((ours - theirs).abs().max()),
    }
