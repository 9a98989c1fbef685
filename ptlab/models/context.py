"""A frozen LM that reads a fixed context (in-context demonstrations) before every input.

The context is the same for every evaluated example, so on a causal LM its key/value cache is
computed once and every forward continues from a copy of it: the prompts (and, through the shared
scorer, every label's continuation) cost what they would without the context. `reuse_cache=False`
recomputes the whole context in every forward instead (lm-eval's way), the reference the
benchmark and the tests compare with; an encoder-decoder always reads it that way (its encoder
reads each prompt once anyway). Generation recomputes it too (transformers' `generate` wants the
full sequence).

The context and each prompt are tokenized apart (the prompts once per task, in the tokenization
cache) but split where the tokenizer splits their joint text, so context + prompt ids equal the
ids of the text the model is said to read, as lm-eval and an API server tokenize it (GPT-2-style
tokenizers split "\n\nReview" as "\n", "\n", "Review", not as the "\n\n" a lone context ends with).
"""

from __future__ import annotations

import copy
from typing import List, Optional

import torch
from torch import nn


class ContextLM(nn.Module):
    def __init__(self, backbone, context_ids: List[int], reuse_cache: bool):
        super().__init__()
        self.backbone = backbone
        self.config = backbone.config
        self.register_buffer("context", torch.tensor([context_ids]), persistent=False)
        self.reuse_cache = reuse_cache and not backbone.config.is_encoder_decoder
        self._cache = None

    def get_base_model(self):
        """The LM itself: the scorer continues a cache (which holds the context) on it directly."""
        return self.backbone

    def _context_cache(self, batch: int):
        if self._cache is None:
            with torch.no_grad():
                self._cache = self.backbone(input_ids=self.context, use_cache=True).past_key_values
        cache = copy.deepcopy(self._cache)
        cache.batch_repeat_interleave(batch)
        return cache

    def _prepend(self, ids: torch.Tensor, mask: torch.Tensor, left_padded: bool = False):
        n = ids.shape[0]
        context = self.context.expand(n, -1)
        if left_padded:  # [pads, prompt] -> [pads, context, prompt]: the pads stay in front
            lengths = mask.sum(1)
            rows = [torch.cat([i[: len(i) - k], context[0], i[len(i) - k :]]) for i, k in zip(ids, lengths.tolist())]
            masks = [
                torch.cat([m[: len(m) - k], torch.ones_like(context[0]), m[len(m) - k :]])
                for m, k in zip(mask, lengths.tolist())
            ]
            return torch.stack(rows), torch.stack(masks)
        return torch.cat([context, ids], 1), torch.cat([torch.ones_like(context), mask], 1)

    def forward(self, input_ids, attention_mask, **kwargs):
        if not self.reuse_cache:
            input_ids, attention_mask = self._prepend(input_ids, attention_mask)
            return self.backbone(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        n, width = self.context.shape[1], input_ids.shape[1]
        positions = torch.arange(n, n + width, device=input_ids.device).expand(input_ids.shape[0], -1)
        mask = torch.cat([attention_mask.new_ones(input_ids.shape[0], n), attention_mask], 1)
        return self.backbone(
            input_ids=input_ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=self._context_cache(input_ids.shape[0]),
            **kwargs,
        )

    def generate(self, input_ids, attention_mask, **kwargs):
        causal = not self.config.is_encoder_decoder
        ids, mask = self._prepend(input_ids, attention_mask, left_padded=causal)
        out = self.backbone.generate(input_ids=ids, attention_mask=mask, **kwargs)
        # A causal LM returns the input before the new tokens; the caller cuts its own input length.
        return out[:, self.context.shape[1] :] if causal else out

    def get_output_embeddings(self):
        return self.backbone.get_output_embeddings()


def tokens_before(tokenizer, text: str, after: str) -> List[int]:
    """The tokens of `text` as the tokenizer splits `text + after` (no special tokens); `text`'s
    own tokens when a token spans the boundary."""
    return _split(tokenizer, text, after, keep_before=True)


def tokens_after(tokenizer, before: str, text: str) -> List[int]:
    """The tokens of `text` as the tokenizer splits `before + text` (no special tokens); `text`'s
    own tokens when a token spans the boundary."""
    return _split(tokenizer, before, text, keep_before=False)


def _split(tokenizer, before: str, after: str, keep_before: bool) -> List[int]:
    cut = len(before)
    joint = _with_offsets(tokenizer, before + after)
    if joint is None or any(start < cut < end for _, (start, end) in joint):
        return tokenizer(before if keep_before else after, add_special_tokens=False)["input_ids"]
    return [i for i, (start, end) in joint if (end <= cut if keep_before else start >= cut)]


def _with_offsets(tokenizer, text: str) -> Optional[List[tuple]]:
    """(id, (start, end)) per token; None for a tokenizer without offsets (a slow one)."""
    if not getattr(tokenizer, "is_fast", False):
        return None
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return list(zip(enc["input_ids"], (tuple(o) for o in enc["offset_mapping"])))
