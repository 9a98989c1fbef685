"""Soft-prompt tuning (Lester et al., 2021): trained input embeddings before the prompt, via peft.

The prompt starts from the embeddings of real tokens (the class verbalizers, a text, or sampled
vocabulary, repeated to fill), or from peft's random init.
"""

import torch
from peft import PromptTuningConfig, PromptTuningInit

from ptlab.methods.peft_method import PeftMethod


class PromptTuning(PeftMethod):
    def peft_config(self, backbone):
        return PromptTuningConfig(
            task_type=self.reader.peft_task_type,
            num_virtual_tokens=self.run.method.num_virtual_tokens,
            prompt_tuning_init=PromptTuningInit.RANDOM,
        )

    def wrap(self, backbone):
        model = super().wrap(backbone)
        embedding = model.prompt_encoder[model.active_adapter].embedding
        ids = self.init_token_ids(embedding.weight.shape[0])  # seq2seq: tokens x (encoder, decoder)
        if ids:
            with torch.no_grad():
                embedding.weight.copy_(backbone.get_input_embeddings()(torch.tensor(ids, device=backbone.device)))
        return model
