"""BitFit (Ben Zaken et al., 2022): only the backbone's bias terms train (plus an encoder's new
task head), about 0.1 % of the weights; step 0 is the untouched model.

Llama-style and T5 models have no bias terms, so BitFit does not apply to them: `not_applicable_to`
reads the architecture torch-free before anything loads (a tiny model's random_config, the
config.json of a local dir or the Hub cache, a GGUF file's header), so a sweep skips those points
as n/a instead of failing them after loading. Not through peft (it has no BitFit): checkpoints hold
the trained tensors only, and the export is those tensors in one safetensors file, loaded onto the
same base model with `model.load_state_dict(safetensors.torch.load_file(path), strict=False)`.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ptlab.config.method import MethodConfig
from ptlab.methods import Method, export_trained
from ptlab.models.architecture import architecture

# Architectures (config.json's model_type) built without bias terms, and the config keys that can
# switch biases back on in some of them.
BIAS_FREE = {"llama", "mistral", "gemma", "gemma2", "t5", "mt5", "umt5"}
BIAS_SWITCHES = ("attention_bias", "mlp_bias")
EXPORT_FILE = "bitfit.safetensors"


@dataclass
class BitFitConfig(MethodConfig):
    lr: float = 1e-3  # the top of the paper's grid


class BitFit(Method):
    name = "bitfit"
    config = BitFitConfig
    report_order = 14  # one vector per linear/norm layer: about IA3's count
    trained_parameters = ("bias",)

    @classmethod
    def not_applicable_to(cls, model) -> Optional[str]:
        config = architecture(model)
        kind = config.get("model_type")
        if kind in BIAS_FREE and not any(config.get(k) for k in BIAS_SWITCHES):
            return f"BitFit trains bias terms, and a {kind} model has none"
        return None

    def wrap(self, backbone, reader):
        backbone.requires_grad_(False)
        for name, parameter in backbone.named_parameters():
            if name.endswith("bias"):
                parameter.requires_grad_(True)
        self.train_new_head(backbone, reader)
        if not any(n.endswith("bias") and p.requires_grad for n, p in backbone.named_parameters()):
            raise ValueError(f"model {self.run.model.name} has no bias terms for BitFit to train")
        return backbone

    def export(self, model, directory: Path) -> None:
        """The trained tensors (biases and any new head) in one safetensors file."""
        export_trained(model, directory / EXPORT_FILE)
