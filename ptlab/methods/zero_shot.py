"""Zero-shot prompting: the untrained backbone, scored with the task's template and scorer."""

from dataclasses import dataclass

from ptlab.config.method import MethodConfig
from ptlab.methods import Method


@dataclass
class ZeroShotConfig(MethodConfig):
    export_adapter: bool = False


class ZeroShot(Method):
    name = "zero_shot"
    config = ZeroShotConfig
    trains = False
    needs_lm_head = True  # the verbalizers are scored by the LM head; an encoder's new head is untrained
    report_order = 0

    def wrap(self, backbone, reader):
        backbone.requires_grad_(False)
        return backbone
