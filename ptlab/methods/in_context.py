"""In-context k-shot learning (Brown et al., 2020): the frozen LM reads k solved training examples
before each evaluated prompt, formatted with the same template and the gold verbalizer.

The demonstrations are the run's training split as ptlab draws it (`data.k` or `data.k_per_class`,
with the run's seed, never from the evaluated split), so in-context k-shot sees exactly the
examples a k-shot trained method trains on (the comparison of Liu et al. 2022, T-Few). They are
shuffled with the seed (k_per_class draws come grouped by class), joined by `separator`, and are
the same for every evaluated example: their key/value cache is computed once per run
(ptlab/models/context.py). When the context would overflow the model's positions, whole
demonstrations are dropped from the end (the run says how many) rather than cutting an input.
"""

import random
import sys
from dataclasses import dataclass
from typing import List, Optional

from ptlab.config.method import MethodConfig
from ptlab.errors import ConfigError
from ptlab.methods import Method


@dataclass
class InContextConfig(MethodConfig):
    separator: str = "\n\n"  # between demonstrations, and before the evaluated prompt
    reuse_cache: bool = True  # false: recompute the demonstrations in every forward (the reference)
    export_adapter: bool = False


class InContext(Method):
    name = "in_context"
    config = InContextConfig
    trains = False
    reads_train_split = True  # the demonstrations
    needs_lm_head = True  # demonstrations end with their answer text, scored as the LM reads it
    report_order = 5

    def __init__(self, run, kind):
        super().__init__(run, kind)
        self.demonstrations: List = []
        self.dropped = 0
        self.context_tokens = 0

    def check(self) -> None:
        if self.run.data.k is None and self.run.data.k_per_class is None:
            raise ConfigError(
                "method=in_context takes its demonstrations from the training split: "
                "set data.k or data.k_per_class (e.g. data.k=4)"
            )

    def prepare(self, data) -> None:
        self.demonstrations = list(data.raw["train"])
        random.Random(self.run.seed).shuffle(self.demonstrations)
        data.reader.after_context = self.cfg.separator  # prompts split as after it; the context holds BOS

    def context_text(self, reader, demonstrations) -> str:
        """The demonstrations, each the template filled in and its gold answer, then the separator."""
        sep = self.cfg.separator
        return "".join(reader.prompt_text(ex) + self.kind.answer_text(ex) + sep for ex in demonstrations)

    def wrap(self, backbone, reader):
        backbone.requires_grad_(False)
        limit = _positions(getattr(backbone, "config", None))  # None for an API model: the server's limit applies
        room = limit - self.run.task.max_source_length - self.run.task.max_target_length if limit else None
        kept = list(self.demonstrations)
        while room is not None and kept and len(reader.context_ids(self.context_text(reader, kept))) > room:
            kept.pop()
        self.dropped = len(self.demonstrations) - len(kept)
        if self.dropped:
            print(
                f"ptlab: in-context: dropped {self.dropped} of {len(self.demonstrations)} demonstrations "
                f"(the context would overflow the model's {limit} positions with a "
                f"{self.run.task.max_source_length}-token prompt)",
                file=sys.stderr,
            )
        self.demonstrations = kept
        if not kept:  # the prompts were tokenized to follow a context: no silent zero-shot run
            raise ConfigError(
                f"method=in_context: not one demonstration fits the model's {limit} positions with room for "
                f"a task.max_source_length={self.run.task.max_source_length}-token prompt; lower it, or "
                f"use a model with a longer context"
            )
        text = self.context_text(reader, kept)
        self.context_tokens = len(reader.context_ids(text)) if limit else None
        return reader.read_context(backbone, text, self.cfg.reuse_cache)

    def summary(self) -> Optional[dict]:
        return {
            "demonstrations": [ex.where for ex in self.demonstrations],
            "dropped": self.dropped,
            "context_tokens": self.context_tokens,
        }


def _positions(config) -> Optional[int]:
    """The model's context length, where its config states one."""
    for key in ("max_position_embeddings", "n_positions", "n_ctx"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None
