"""Batched tensor helpers the family readers share: dynamic padding, per-row label log-probabilities,
(prompt, choice) pairs for rank scoring, and a causal LM's last hidden states with its LM head
applied only where needed."""

from __future__ import annotations

from typing import Any, Dict, List, Sequence

import torch
import torch.nn.functional as F

IGNORE = -100
Batch = Dict[str, Any]


def pad(seqs: Sequence[Sequence[int]], value: int, left: bool = False) -> torch.Tensor:
    """Pad to the longest sequence in the batch (dynamic padding)."""
    width = max(len(s) for s in seqs)
    rows = [([value] * (width - len(s)) + list(s)) if left else (list(s) + [value] * (width - len(s))) for s in seqs]
    return torch.tensor(rows, dtype=torch.long)


def to_model_device(batch: Batch, model) -> Batch:
    """The batch's tensors on the device of the model's parameters."""
    device = next(model.parameters()).device
    return {n: t.to(device) for n, t in batch.items()}


def token_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row sum of log p(label token) and the token count; logits[:, t] predicts labels[:, t]."""
    mask = labels != IGNORE
    return row_sums(logits[mask], labels, mask)


def row_sums(picked_logits, labels, mask) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row sum of log p(label) over the masked positions, given those positions' logits."""
    lp = -F.cross_entropy(picked_logits.float(), labels[mask], reduction="none")
    rows = mask.nonzero()[:, 0]
    sums = torch.zeros(labels.shape[0], device=labels.device).index_add_(0, rows, lp)
    return sums, mask.sum(dim=1)


def flatten_choices(choices: list, prompts: int) -> tuple[list, torch.Tensor, torch.Tensor]:
    """Every (prompt, choice) pair, in prompt order: the choices, each one's prompt index, and the
    (prompts, most choices) mask of real choices.

    `choices` is one list shared by every prompt (a classification task's verbalizers: token-id
    lists, or texts for an API model) or one list per prompt (a multiple-choice task's own
    answers; their number may differ between prompts).
    """
    first = choices[0]
    per_prompt = isinstance(first, list) and isinstance(first[0], (list, str))
    lists: List[list] = list(choices) if per_prompt else [choices] * prompts
    width = max(len(c) for c in lists)
    flat = [c for cs in lists for c in cs]
    owner = torch.tensor([p for p, cs in enumerate(lists) for _ in cs])
    valid = torch.tensor([[j < len(cs) for j in range(width)] for cs in lists])
    return flat, owner, valid


def spread(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Per-pair values as a (prompts, choices) tensor; a prompt's missing choices are -inf, so no
    argmax picks them and a softmax gives them nothing."""
    out = values.new_full(valid.shape, float("-inf"))
    out[valid.to(values.device)] = values
    return out


def last_hidden(model, batch: Batch, **forward) -> tuple[torch.Tensor, torch.nn.Module, Any]:
    """A causal LM's final hidden states at the batch's real positions, its LM head, and the
    forward's output (for its key/value cache when `use_cache=True` is passed).

    The LM head (vocabulary x hidden) is a large share of a small LM's compute; the loss and the
    scorer need it at a few positions only, so the forward keeps one position of logits and the
    head is applied where needed. Works under peft (prompt tuning's virtual positions dropped).
    """
    base = base_model(model)
    captured = {}

    def grab(module, args, output):
        captured["h"] = output[0] if isinstance(output, tuple) else output.last_hidden_state

    handle = base.get_decoder().register_forward_hook(grab)
    try:
        output = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], logits_to_keep=1, **forward
        )
    finally:
        handle.remove()
    return captured["h"][:, -batch["input_ids"].shape[1] :], base.get_output_embeddings(), output


def base_model(model):
    """The transformers model under a peft wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model
