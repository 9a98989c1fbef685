"""Shared base of the parameter-efficient methods: peft wraps the frozen backbone."""

from pathlib import Path
from typing import List

import torch
from peft import PeftConfig, get_peft_model

from ptlab.config import PromptInit, TaskKind
from ptlab.methods.base import MethodModule


class PeftMethod(MethodModule):
    def peft_config(self, backbone) -> PeftConfig:
        raise NotImplementedError

    def wrap(self, backbone):
        return get_peft_model(backbone, self.peft_config(backbone))

    def export_adapter(self, directory: Path) -> None:
        """Write the trained adapter in peft's own format (loadable with PeftModel.from_pretrained)."""
        self.model.save_pretrained(str(directory))

    @property
    def init(self) -> PromptInit:
        """`auto`: the class verbalizers on classification tasks, sampled vocabulary otherwise."""
        if self.run.method.init != PromptInit.auto:
            return self.run.method.init
        classifies = self.run.task.kind == TaskKind.classification
        return PromptInit.labels if classifies else PromptInit.sample_vocab

    def init_token_ids(self, n: int) -> List[int]:
        """n token ids to start the virtual tokens from (repeated to fill), or [] for random."""
        tokenizer = self.reader.tokenizer
        if self.init == PromptInit.text:
            ids = tokenizer(self.run.method.init_text, add_special_tokens=False)["input_ids"]
        elif self.init == PromptInit.labels:
            words = [v.strip() for v in self.run.task.labels.values()]
            ids = [i for w in words for i in tokenizer(" " + w, add_special_tokens=False)["input_ids"]]
        elif self.init == PromptInit.sample_vocab:
            ids = torch.randint(len(tokenizer), (n,)).tolist()  # seeded by the run's seed
        else:
            return []
        return (ids * n)[:n]
