"""P-tuning (Liu et al., 2021, "GPT Understands, Too") through peft: virtual tokens before the
prompt, produced by a trained prompt encoder (an MLP, or the paper's LSTM) from a trained table.

Unlike prompt tuning, the virtual tokens pass through the encoder, so they cannot start from real
tokens' embeddings: peft's random init.
"""

from dataclasses import dataclass
from enum import Enum

from ptlab.config.method import MethodConfig
from ptlab.errors import ConfigError, positive
from ptlab.methods.peft_method import PeftMethod


class PromptEncoder(str, Enum):
    MLP = "MLP"
    LSTM = "LSTM"  # the paper's bidirectional LSTM, then an MLP


@dataclass
class PTuningConfig(MethodConfig):
    lr: float = 1e-3
    num_virtual_tokens: int = 20
    encoder: PromptEncoder = PromptEncoder.MLP
    encoder_hidden_size: int = 128
    encoder_num_layers: int = 2  # MLP layers (LSTM: its layers)
    encoder_dropout: float = 0.0

    def check(self) -> None:
        super().check()
        positive("method.num_virtual_tokens", self.num_virtual_tokens)
        positive("method.encoder_hidden_size", self.encoder_hidden_size)
        positive("method.encoder_num_layers", self.encoder_num_layers)
        if not 0 <= self.encoder_dropout < 1:
            raise ConfigError(f"method.encoder_dropout must be in [0, 1), got {self.encoder_dropout}")


class PTuning(PeftMethod):
    name = "p_tuning"
    config = PTuningConfig
    report_order = 12  # the prompt encoder's MLP on top of prompt tuning's table
    trained_parameters = ("prompt_encoder",)

    def peft_config(self, reader):
        from peft import PromptEncoderConfig

        cfg = self.cfg
        return PromptEncoderConfig(
            task_type=self.task_type(reader),
            num_virtual_tokens=cfg.num_virtual_tokens,
            encoder_reparameterization_type=cfg.encoder.value,
            encoder_hidden_size=cfg.encoder_hidden_size,
            encoder_num_layers=cfg.encoder_num_layers,
            encoder_dropout=cfg.encoder_dropout,
        )
