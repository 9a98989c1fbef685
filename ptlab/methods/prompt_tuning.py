"""Soft-prompt tuning (Lester et al., 2021): trained input embeddings before the prompt, via peft.

The prompt starts from the embeddings of real tokens (the class verbalizers, a text, or sampled
vocabulary, repeated to fill), or from peft's random init.
"""

from dataclasses import dataclass

from ptlab.methods.virtual_tokens import VirtualTokensConfig, VirtualTokensMethod


@dataclass
class PromptTuningConfig(VirtualTokensConfig):
    lr: float = 3e-2
    num_virtual_tokens: int = 20


class PromptTuning(VirtualTokensMethod):
    name = "prompt_tuning"
    config = PromptTuningConfig
    report_order = 10

    def peft_config(self, reader):
        from peft import PromptTuningConfig as PeftPromptTuningConfig, PromptTuningInit

        return PeftPromptTuningConfig(
            task_type=self.task_type(reader),
            num_virtual_tokens=self.cfg.num_virtual_tokens,
            prompt_tuning_init=PromptTuningInit.RANDOM,
        )

    def wrap(self, backbone, reader):
        import torch

        model = super().wrap(backbone, reader)
        embedding = model.prompt_encoder[model.active_adapter].embedding
        ids = self.init_token_ids(reader.tokenizer, embedding.weight.shape[0])  # seq2seq: tokens x (enc, dec)
        if ids:
            with torch.no_grad():
                embedding.weight.copy_(backbone.get_input_embeddings()(torch.tensor(ids, device=backbone.device)))
        return model
