"""LoRA (Hu et al., 2021) through peft: trained rank-r updates W + (alpha/r)·BA beside frozen
weight matrices, B starting at zero so step 0 is the untouched model.

`method.target_modules` names the matrices (null: peft's default for the architecture). On an
encoder, peft also trains the new classification head, as for prompt and prefix tuning.
"""

from dataclasses import dataclass
from typing import List, Optional

from ptlab.config.method import MethodConfig
from ptlab.errors import ConfigError, positive
from ptlab.methods.peft_method import PeftMethod


@dataclass
class LoraMethodConfig(MethodConfig):
    lr: float = 1e-3
    r: int = 8
    alpha: int = 16  # the update is scaled by alpha / r
    dropout: float = 0.05
    # Module names to adapt; null: peft's default for the architecture (attention query and value
    # projections: q_proj/v_proj on Llama, c_attn on GPT-2, q/v on T5, query/value on BERT/RoBERTa).
    target_modules: Optional[List[str]] = None

    def check(self) -> None:
        super().check()
        positive("method.r", self.r)
        positive("method.alpha", self.alpha)
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"method.dropout must be in [0, 1), got {self.dropout}")
        if self.target_modules is not None and not self.target_modules:
            raise ConfigError("method.target_modules is empty: name modules to adapt, or null for peft's default")


class LoRA(PeftMethod):
    name = "lora"
    config = LoraMethodConfig
    report_order = 30
    trained_parameters = ("lora_",)

    def peft_config(self, reader):
        from peft import LoraConfig

        cfg = self.cfg
        return LoraConfig(
            task_type=self.task_type(reader),
            r=cfg.r,
            lora_alpha=cfg.alpha,
            lora_dropout=cfg.dropout,
            target_modules=list(cfg.target_modules) if cfg.target_modules else None,
        )
