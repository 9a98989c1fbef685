"""Shared base of the parameter-efficient methods: peft wraps the frozen backbone."""

from pathlib import Path

from peft import PeftConfig, get_peft_model

from ptlab.methods.base import MethodModule


class PeftMethod(MethodModule):
    def peft_config(self, backbone) -> PeftConfig:
        raise NotImplementedError

    def wrap(self, backbone):
        return get_peft_model(backbone, self.peft_config(backbone))

    def export_adapter(self, directory: Path) -> None:
        """Write the trained adapter in peft's own format (loadable with PeftModel.from_pretrained)."""
        self.model.save_pretrained(str(directory))
