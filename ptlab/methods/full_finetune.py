"""Full fine-tuning: every weight of the backbone trains."""

from ptlab.methods.base import MethodModule


class FullFinetune(MethodModule):
    saves_frozen_weights = True  # nothing is frozen: the checkpoint is the whole model

    def wrap(self, backbone):
        backbone.requires_grad_(True)
        return backbone
