"""What every model family's reader shares (ptlab/models/families.py has the local ones,
ptlab/models/api.py a hosted API's): prompt encoding, batching, the model calls a kind asks for.
"""

from __future__ import annotations

from functools import cached_property
from typing import List, Optional

import torch

from ptlab.config.schema import Family
from ptlab.config.task import TaskConfig
from ptlab.data.example import Example
from ptlab.kinds import Head
from ptlab.models.context import tokens_after, tokens_before
from ptlab.models.prompt_fit import fitted_fields
from ptlab.models.tensors import (
    Batch,
    pad,
)


class FamilyReader:
    """Shared by every method on a (model family, task): prompt encoding, batching, the model calls.

    What a task kind does with them (which answer, which loss, which metric inputs) is the
    kind's (ptlab/kinds/); a reader knows its family and the head the kind chose for it.
    """

    family: Family
    # Bump when what the reader's encoding produces changes: it keys the tokenization cache.
    encoding_version = 1

    def __init__(self, tokenizer, task: TaskConfig, head: Head):
        self.tokenizer = tokenizer
        self.task = task
        self.head = head
        self.pad_id = tokenizer.pad_token_id
        self.after_context: Optional[str] = None  # the text a method's context ends with, before each prompt
        self.truncated = False  # the row being encoded was cut (ptlab/models/prompt_fit.py)
        self.kept_text: Optional[str] = None  # what an LM's cut prompt kept, as text
        self.answer_lost: Optional[bool] = None  # set by a kind that can tell (NER: a cut word had an entity)

    @property
    def has_lm_head(self) -> bool:
        return self.head.is_lm

    # --- encoding (cached per task/tokenizer/template by the DataModule) ---
    def prompt_text(self, ex: Example, fit: bool = True) -> str:
        """The filled-in template; with `task.truncate_field` (and `fit`), that field cut to fit."""
        cut = fit and self.task.truncate_field is not None and self.tokenizer is not None  # an API model: no tokens
        fields = fitted_fields(self, ex.fields) if cut else ex.fields
        return self.task.selected.text.format(**fields)

    def begin_row(self) -> None:
        """Forget the previous row's cut: the flags below are the current row's."""
        self.truncated, self.kept_text, self.answer_lost = False, None, None

    truncation_side = "left"  # LMs keep the end of an over-long prompt: the answer cue sits there

    def encode_prompt(self, ex: Example) -> List[int]:
        return self.encode_text(self.prompt_text(ex))

    def encode_text(self, text: str) -> List[int]:
        """A prompt's ids. The tokenizer truncates the text, not its special tokens (BOS, [CLS]/[SEP] stay).
        A prompt that follows a context (in-context demonstrations) is split as the joint text is,
        without the leading special tokens (the context has them)."""
        self.tokenizer.truncation_side = self.truncation_side
        limit = self.task.max_source_length
        if self.after_context is None:
            ids = self.tokenizer(text)["input_ids"]
            if len(ids) <= limit:
                return ids
            ids = self.tokenizer(text, truncation=True, max_length=limit)["input_ids"]
        else:
            trailing = self.special_ids[1]
            body = tokens_after(self.tokenizer, self.after_context, text)
            room = limit - len(trailing)
            if len(body) <= room:
                return body + trailing
            ids = (body[-room:] if self.truncation_side == "left" else body[:room]) + trailing
        self.truncated, self.kept_text = True, self.tokenizer.decode(ids, skip_special_tokens=True)
        return ids

    def context_ids(self, text: str) -> List[int]:
        """A method's fixed context as ids: the leading special tokens, then `text` split as it is
        before a prompt (the template's literal start, or a word when it starts with a field)."""
        probe = self.task.selected.text.split("{")[0] or "x"
        return self.leading_special_ids + tokens_before(self.tokenizer, text, probe)

    @cached_property
    def special_ids(self) -> tuple:
        """The special tokens the tokenizer puts before and after a text (Llama: BOS, none; T5: none,
        EOS; GPT-2: none, none): a context starts with the leading ones, the prompt after it does not."""
        marked = self.tokenizer("x")["input_ids"]
        bare = self.tokenizer("x", add_special_tokens=False)["input_ids"]
        start = next(i for i in range(len(marked)) if marked[i : i + len(bare)] == bare)
        return marked[:start], marked[start + len(bare) :]

    @property
    def leading_special_ids(self) -> List[int]:
        return self.special_ids[0]

    def read_context(self, model, text: str, reuse_cache: bool):
        """`model` reading `text` before every input (its key/value cache computed once per run)."""
        from ptlab.models.context import ContextLM

        return ContextLM(model, self.context_ids(text), reuse_cache)

    def inputs(self, prompts) -> Batch:
        """Prompts as one right-padded batch."""
        return {
            "input_ids": pad(prompts, self.pad_id),
            "attention_mask": pad([[1] * len(p) for p in prompts], 0),
        }

    def _predictions(self, new: torch.Tensor, ended, ending) -> tuple[List[str], List[int]]:
        """Each row's prediction (the Ending's cut of its new tokens' text) and the new tokens it decoded."""
        texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        return [ending.cut(t) for t in texts], ended.decoded(len(texts), new.shape[1])
