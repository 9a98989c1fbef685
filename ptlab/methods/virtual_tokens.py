"""The shared part of prompt and prefix tuning: trained virtual tokens, started from real ones.

Torch-free at import (see ptlab/methods/__init__.py).
"""

from dataclasses import dataclass
from enum import Enum
from typing import List, Optional

from ptlab.config.method import MethodConfig
from ptlab.errors import ConfigError, positive
from ptlab.methods.peft_method import PeftMethod


class PromptInit(str, Enum):
    auto = "auto"  # the class verbalizers where the task has classes, else sample_vocab
    random = "random"
    sample_vocab = "sample_vocab"
    text = "text"
    labels = "labels"  # the class verbalizers' embeddings (Lester et al. 2021, "class label" init)


@dataclass
class VirtualTokensConfig(MethodConfig):
    num_virtual_tokens: int = 10
    init: PromptInit = PromptInit.auto
    init_text: Optional[str] = None

    def check(self) -> None:
        super().check()
        positive("method.num_virtual_tokens", self.num_virtual_tokens)
        if self.init == PromptInit.text and not self.init_text:
            raise ConfigError("method.init=text needs method.init_text")


class VirtualTokensMethod(PeftMethod):
    trained_parameters = ("prompt_encoder",)  # peft's table of virtual tokens (or its encoder)

    def check(self) -> None:
        if self.cfg.init == PromptInit.labels and self.kind.label_words() is None:
            raise ConfigError(
                f"method.init=labels needs a task with labels ({self.kind.name} has none); use auto, random or text"
            )

    @property
    def init(self) -> PromptInit:
        """`auto`: the class verbalizers where the task has them, sampled vocabulary otherwise."""
        if self.cfg.init != PromptInit.auto:
            return self.cfg.init
        return PromptInit.labels if self.kind.label_words() is not None else PromptInit.sample_vocab

    def init_token_ids(self, tokenizer, n: int) -> List[int]:
        """n token ids to start the virtual tokens from (repeated to fill), or [] for random."""
        import torch

        if self.init == PromptInit.text:
            ids = tokenizer(self.cfg.init_text, add_special_tokens=False)["input_ids"]
        elif self.init == PromptInit.labels:
            words = self.kind.label_words()
            ids = [i for w in words for i in tokenizer(" " + w, add_special_tokens=False)["input_ids"]]
        elif self.init == PromptInit.sample_vocab:
            ids = torch.randint(len(tokenizer), (n,)).tolist()  # seeded by the run's seed
        else:
            return []
        return (ids * n)[:n]
