"""Soft-prompt tuning (Lester et al., 2021): trained input embeddings before the prompt, via peft.

peft initialises random and sampled-vocabulary prompts itself; `text` and `labels` start from the
embeddings of given tokens (the init text, or the class verbalizers), repeated to fill the prompt.
"""

import torch
from peft import PromptTuningConfig, PromptTuningInit

from ptlab.config import PromptInit, TaskKind
from ptlab.methods.peft_method import PeftMethod


class PromptTuning(PeftMethod):
    @property
    def init(self) -> PromptInit:
        if self.run.method.init != PromptInit.auto:
            return self.run.method.init
        classifies = self.run.task.kind == TaskKind.classification
        return PromptInit.labels if classifies else PromptInit.sample_vocab

    def peft_config(self, backbone):
        cfg = self.run.method
        init = PromptTuningInit.SAMPLE_VOCAB if self.init == PromptInit.sample_vocab else PromptTuningInit.RANDOM
        return PromptTuningConfig(
            task_type=self.adapter.peft_task_type,
            num_virtual_tokens=cfg.num_virtual_tokens,
            prompt_tuning_init=init,
        )

    def wrap(self, backbone):
        model = super().wrap(backbone)
        ids = self._init_token_ids()
        if ids:
            embedding = model.prompt_encoder[model.active_adapter].embedding
            n = embedding.weight.shape[0]  # seq2seq: virtual tokens x (encoder, decoder)
            ids = torch.tensor((ids * n)[:n], device=backbone.device)
            with torch.no_grad():
                embedding.weight.copy_(backbone.get_input_embeddings()(ids))
        return model

    def _init_token_ids(self) -> list:
        cfg = self.run.method
        tokenizer = self.adapter.tokenizer
        if self.init == PromptInit.text:
            return tokenizer(cfg.init_text, add_special_tokens=False)["input_ids"]
        if self.init == PromptInit.labels:
            words = [v.strip() for v in self.run.task.labels.values()]
            return [i for w in words for i in tokenizer(" " + w, add_special_tokens=False)["input_ids"]]
        return []
