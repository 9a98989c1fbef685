"""Greedy decoding that stops where each row's prediction ends (ptlab/models/ending.py).

Decoding needs no more than the prediction's text, so each row of a greedy batch stops as soon as
its own prediction has ended (eos, or a stop sequence that counts under the run's Ending), and the
batch as soon as every row has: transformers then pads the rows that stopped instead of extending
them. The rows' tokens up to there are the ones a run to `max_new_tokens` decodes, so the
prediction is the same, only sooner. Beam search always runs to its end: a beam's end changes the
hypotheses' scores, so stopping one early could change which beam wins.
"""

from __future__ import annotations

from typing import List, Optional

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from ptlab.models.ending import Ending


class PredictionEnded(StoppingCriteria):
    """True for each row whose prediction has ended: its new tokens hold eos, or their text holds a
    stop sequence that counts (`ending.ended`). `decoded` counts each row's new tokens up to there.

    The new tokens start where the first call finds one more token than the input had, whatever
    the caller's input is (left padding, an in-context prefix, peft's virtual tokens)."""

    def __init__(self, tokenizer, ending: Ending, eos_id: Optional[int]):
        self.tokenizer = tokenizer
        self.ending = ending
        self.eos_id = eos_id
        self.start: Optional[int] = None
        self.ended: List[Optional[int]] = []  # per row: its new tokens when it ended (None: not yet)

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        if self.start is None:
            self.start = input_ids.shape[1] - 1
            self.ended = [None] * input_ids.shape[0]
        new = input_ids[:, self.start :].tolist()
        live = [i for i, n in enumerate(self.ended) if n is None]
        stops = self.ending.stops
        texts = self.tokenizer.batch_decode([new[i] for i in live], skip_special_tokens=True) if stops else []
        for i, text in zip(live, texts or [""] * len(live)):
            if new[i][-1] == self.eos_id or (stops and self.ending.ended(text)):
                self.ended[i] = len(new[i])
        return torch.tensor([n is not None for n in self.ended], device=input_ids.device)

    def decoded(self, rows: int, width: int) -> List[int]:
        """New tokens decoded per row: to where it ended, else all `width` of them."""
        return [width if n is None else n for n in self.ended] if self.ended else [width] * rows


def generate_until(model, inputs, reader, num_beams: int, max_new_tokens: int, ending: Ending, early: bool):
    """`model.generate` on a batch; greedy rows stop where their prediction ends if `early`.
    Returns the output ids and the PredictionEnded that counts each row's decoded tokens."""
    watched = ending if early else Ending(())
    ended = PredictionEnded(reader.tokenizer, watched, reader.tokenizer.eos_token_id)
    out = model.generate(
        **inputs,
        max_new_tokens=max_new_tokens,
        num_beams=num_beams,
        do_sample=False,
        pad_token_id=reader.pad_id,
        eos_token_id=reader.tokenizer.eos_token_id,
        stopping_criteria=StoppingCriteriaList([ended] if num_beams == 1 else []),
    )
    return out, ended
