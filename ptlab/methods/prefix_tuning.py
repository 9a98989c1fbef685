"""Prefix tuning (Li & Liang, 2021): trained key/value prefixes at every layer, via peft."""

from peft import PrefixTuningConfig

from ptlab.methods.peft_method import PeftMethod


class PrefixTuning(PeftMethod):
    def peft_config(self, backbone):
        cfg = self.run.method
        return PrefixTuningConfig(
            task_type=self.adapter.peft_task_type,
            num_virtual_tokens=cfg.num_virtual_tokens,
            prefix_projection=cfg.prefix_projection,
            encoder_hidden_size=cfg.encoder_hidden_size,
        )
