"""IA3 (Liu et al., 2022, "Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than
In-Context Learning") through peft: trained vectors that rescale the attention keys and values
and the feed-forward activations, started at one so step 0 is the untouched model.

`method.target_modules` / `method.feedforward_modules` name the rescaled modules (null: peft's
default for the architecture: k_proj/v_proj/down_proj on Llama, k/v/wo on T5, key/value/
output.dense on BERT/RoBERTa, c_attn/mlp.c_proj on GPT-2); the feed-forward ones are scaled on
their input, the others on their output.
"""

from dataclasses import dataclass
from typing import List, Optional

from ptlab.config.method import MethodConfig
from ptlab.errors import ConfigError
from ptlab.methods.peft_method import PeftMethod


@dataclass
class IA3MethodConfig(MethodConfig):
    lr: float = 3e-3  # T-Few's (Liu et al., 2022)
    target_modules: Optional[List[str]] = None  # null: peft's default per architecture
    feedforward_modules: Optional[List[str]] = None  # a subset of target_modules; null: peft's default

    def check(self) -> None:
        super().check()
        if self.target_modules is not None and not self.target_modules:
            raise ConfigError("method.target_modules is empty: name modules to rescale, or null for peft's default")
        if (self.feedforward_modules is None) != (self.target_modules is None):
            raise ConfigError("method.target_modules and method.feedforward_modules are set together (or both null)")
        stray = set(self.feedforward_modules or ()) - set(self.target_modules or ())
        if stray:
            raise ConfigError(f"method.feedforward_modules {sorted(stray)} are not in method.target_modules")


class IA3(PeftMethod):
    name = "ia3"
    config = IA3MethodConfig
    report_order = 15  # a vector per rescaled module: fewer than LoRA's matrices, more than a prompt
    trained_parameters = ("ia3_",)

    def peft_config(self, reader):
        from peft import IA3Config

        cfg = self.cfg
        return IA3Config(
            task_type=self.task_type(reader),
            target_modules=list(cfg.target_modules) if cfg.target_modules else None,
            feedforward_modules=list(cfg.feedforward_modules) if cfg.feedforward_modules else None,
        )
