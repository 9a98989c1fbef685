"""LoRA (Hu et al., 2021) through peft: trained rank-r updates W + (alpha/r)·BA beside frozen
weight matrices, B starting at zero so step 0 is the untouched model.

`method.target_modules` names the matrices (null: peft's default for the architecture). On an
encoder, peft also trains the new classification head, as for prompt and prefix tuning.
"""

from peft import LoraConfig

from ptlab.methods.peft_method import PeftMethod


class LoRA(PeftMethod):
    def peft_config(self, backbone):
        cfg = self.run.method
        return LoraConfig(
            task_type=self.reader.peft_task_type, r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
            target_modules=list(cfg.target_modules) if cfg.target_modules else None,
        )
