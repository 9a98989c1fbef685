"""Zero-shot prompting: the untrained backbone, scored with the task's template and scorer."""

from ptlab.methods.base import MethodModule


class ZeroShot(MethodModule):
    def wrap(self, backbone):
        backbone.requires_grad_(False)
        return backbone
