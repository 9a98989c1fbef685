"""Full fine-tuning: every weight of the backbone trains."""

from dataclasses import dataclass

from ptlab.config.method import MethodConfig
from ptlab.methods import Method


@dataclass
class FullFinetuneConfig(MethodConfig):
    lr: float = 2e-5
    weight_decay: float = 0.01


class FullFinetune(Method):
    name = "full_finetune"
    config = FullFinetuneConfig
    saves_frozen_weights = True  # nothing is frozen: the checkpoint is the whole model
    shardable = True
    report_order = 40

    def wrap(self, backbone, reader):
        backbone.requires_grad_(True)
        return backbone
