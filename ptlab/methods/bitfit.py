"""BitFit (Ben Zaken et al., 2022): only the backbone's bias terms train (plus an encoder's new
task head), about 0.1 % of the weights; step 0 is the untouched model.

Llama-style and T5 models have no bias terms, so BitFit does not apply to them: `not_applicable_to`
reads the architecture torch-free before anything loads (a tiny model's random_config, the
config.json of a local dir or the Hub cache, a GGUF file's header), so a sweep skips those points
as n/a instead of failing them after loading. Not through peft (it has no BitFit): checkpoints hold
the trained tensors only, and the export is those tensors in one safetensors file, loaded onto the
same base model with `model.load_state_dict(safetensors.torch.load_file(path), strict=False)`.
"""

import importlib.util
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ptlab.config import MethodConfig
from ptlab.methods import Method

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
        if not reader.head.is_lm:  # an encoder's new task head: everything outside the pretrained body
            body = backbone.base_model_prefix
            for name, parameter in backbone.named_parameters():
                if not name.startswith(f"{body}."):
                    parameter.requires_grad_(True)
        if not any(n.endswith("bias") and p.requires_grad for n, p in backbone.named_parameters()):
            raise ValueError(f"model {self.run.model.name} has no bias terms for BitFit to train")
        return backbone

    def export(self, model, directory: Path) -> None:
        """The trained tensors (biases and any new head) in one safetensors file."""
        from safetensors.torch import save_file

        directory.mkdir(parents=True, exist_ok=True)
        trained = {n: p.detach().contiguous() for n, p in model.named_parameters() if p.requires_grad}
        save_file(trained, str(directory / EXPORT_FILE))


def architecture(model) -> dict:
    """What is known of `model`'s config.json without torch ({} when nothing is)."""
    if model.random_config:
        return dict(model.random_config)
    folder = Path(model.pretrained).expanduser()
    if model.package:
        spec = importlib.util.find_spec(model.package)  # finds without importing it
        folder = Path(spec.origin).parent / model.pretrained if spec and spec.origin else folder
    if model.gguf_file:
        kind = gguf_architecture(folder / model.gguf_file)
        return {"model_type": kind} if kind else {}
    path = folder / "config.json"
    if not folder.is_dir():
        from huggingface_hub import try_to_load_from_cache

        path = try_to_load_from_cache(model.pretrained, "config.json", revision=model.revision)
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (TypeError, OSError, ValueError):
        return {}


def gguf_architecture(path: Path) -> Optional[str]:
    """`general.architecture` from a GGUF header, where llama.cpp writes it: the first key/value
    (a string, type 8). None if the file is missing or orders its keys otherwise."""
    try:
        with open(path, "rb") as f:
            magic, _version, _tensors, _keys = struct.unpack("<4sIQQ", f.read(24))
            (length,) = struct.unpack("<Q", f.read(8))
            key = f.read(length)
            kind, size = struct.unpack("<IQ", f.read(12))
            value = f.read(size)
    except (OSError, struct.error):
        return None
    if magic != b"GGUF" or key != b"general.architecture" or kind != 8:
        return None
    return value.decode("utf-8", "replace")
