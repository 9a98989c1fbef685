"""Bottleneck adapters (Houlsby et al., 2019; Pfeiffer et al., 2021): a small down-project ->
nonlinearity -> up-project block added residually after a sublayer's output projection trains,
with the layer norms in Houlsby's variant; the backbone stays frozen.

Not through a library: AdapterHub's `adapters` (1.3.0, its newest) requires transformers ~=4.57
and ptlab pins 5.x, and peft has no bottleneck adapter. So a small implementation: each adapter is
a child module of the projection it follows (`<projection>.bottleneck_adapter`), called by a
forward hook, so the backbone's own modules and state-dict keys stay as they were (checkpoints
hold the trained tensors only, like peft's). The up-projection starts at zero, as LoRA's B does:
step 0 is the untouched model exactly (Houlsby's near-identity init differs only in that).

`method.variant`: houlsby - after attention's output projection and after the feed-forward's (two
per layer), swish, layer norms trained; pfeiffer - after the feed-forward only, relu, layer norms
frozen. `method.target_modules` (regexes matched against the end of module names) overrides where.
The export is the trained tensors plus where they go; `attach_exported(model, dir)` puts them on a
fresh base model.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from ptlab.config.method import MethodConfig
from ptlab.errors import ConfigError, NotApplicable
from ptlab.methods import Method, export_trained
from ptlab.models.architecture import architecture

CHILD = "bottleneck_adapter"
EXPORT_FILE = "bottleneck_adapter.safetensors"
PLACEMENT_FILE = "bottleneck_adapter.json"
ACTIVATIONS = ("relu", "swish", "gelu", "tanh")
# What each variant places and trains (Houlsby et al., 2019, sec. 2.1; Pfeiffer et al., 2021, sec. 3.2).
VARIANTS = {
    "houlsby": {"sublayers": ("attention", "feedforward"), "activation": "swish", "layer_norms": True},
    "pfeiffer": {"sublayers": ("feedforward",), "activation": "relu", "layer_norms": False},
}
_BERT = {"attention": r"attention\.output\.dense", "feedforward": r"layer\.\d+\.output\.dense"}
_LLAMA = {"attention": r"self_attn\.o_proj", "feedforward": r"mlp\.down_proj"}
_T5 = {"attention": r"SelfAttention\.o", "feedforward": r"DenseReluDense\.wo"}
# Each sublayer's output projection, by config.json's model_type.
PROJECTIONS = {
    **dict.fromkeys(("bert", "roberta", "xlm-roberta", "electra"), _BERT),
    "distilbert": {"attention": r"attention\.out_lin", "feedforward": r"ffn\.lin2"},
    **dict.fromkeys(("llama", "mistral", "qwen2", "gemma", "gemma2"), _LLAMA),
    **dict.fromkeys(("t5", "mt5", "umt5"), _T5),
    "gpt2": {"attention": r"attn\.c_proj", "feedforward": r"mlp\.c_proj"},
    **dict.fromkeys(("bart", "mbart"), {"attention": r"self_attn\.out_proj", "feedforward": r"fc2"}),
}


@dataclass
class AdapterConfig(MethodConfig):
    lr: float = 3e-4  # the middle of Houlsby et al.'s grid
    variant: str = "houlsby"  # houlsby | pfeiffer
    reduction_factor: int = 16  # bottleneck width = the model's width / this (AdapterHub's default)
    activation: Optional[str] = None  # null: the variant's (houlsby: swish, pfeiffer: relu)
    train_layer_norms: Optional[bool] = None  # null: the variant's (houlsby: yes, pfeiffer: no)
    target_modules: Optional[List[str]] = None  # regexes; null: the variant's places for the architecture

    def check(self) -> None:
        super().check()
        if self.variant not in VARIANTS:
            raise ConfigError(f"method.variant must be one of {sorted(VARIANTS)}, got {self.variant!r}")
        if not (isinstance(self.reduction_factor, int) and self.reduction_factor >= 1):
            raise ConfigError(f"method.reduction_factor must be an integer >= 1, got {self.reduction_factor}")
        if self.activation is not None and self.activation not in ACTIVATIONS:
            raise ConfigError(f"method.activation must be one of {list(ACTIVATIONS)} or null, got {self.activation!r}")
        if self.target_modules is not None:
            if not self.target_modules:
                raise ConfigError("method.target_modules is empty: name modules to follow, or null for the variant's")
            for pattern in self.target_modules:
                try:
                    re.compile(pattern)
                except re.error as err:
                    raise ConfigError(f"method.target_modules: {pattern!r} is not a regex ({err})") from None


class Adapter(Method):
    name = "adapter"
    config = AdapterConfig
    report_order = 28  # two bottlenecks per layer: more than IA3's vectors, about LoRA's matrices
    # the bottlenecks, layer norms (Houlsby's variant) under each family's names
    trained_parameters = (CHILD, "norm", "LayerNorm", "ln_")

    def check(self) -> None:
        if self.cfg.target_modules is None:
            kind = architecture(self.run.model).get("model_type")
            if kind and kind not in PROJECTIONS:
                raise NotApplicable(
                    f"method=adapter knows no places in a {kind} model: set method.target_modules "
                    f"(regexes of the output projections to follow)"
                )

    def placement(self, model_type: str) -> dict:
        """What to attach: the module-name regexes, bottleneck reduction and activation."""
        variant = VARIANTS[self.cfg.variant]
        patterns = self.cfg.target_modules
        if patterns is None:
            if model_type not in PROJECTIONS:
                raise ValueError(f"method=adapter knows no places in a {model_type} model: set method.target_modules")
            patterns = [PROJECTIONS[model_type][s] for s in variant["sublayers"]]
        activation = self.cfg.activation or variant["activation"]
        return {"patterns": list(patterns), "reduction_factor": self.cfg.reduction_factor, "activation": activation}

    def train_layer_norms(self) -> bool:
        chosen = self.cfg.train_layer_norms
        return VARIANTS[self.cfg.variant]["layer_norms"] if chosen is None else chosen

    def wrap(self, backbone, reader):
        backbone.requires_grad_(False)
        self.attached = attach(backbone, self.placement(backbone.config.model_type))
        if self.train_layer_norms():
            for module in backbone.modules():
                if "norm" in type(module).__name__.lower():  # LayerNorm, LlamaRMSNorm, T5LayerNorm
                    module.requires_grad_(True)
        self.train_new_head(backbone, reader)
        return backbone

    def summary(self) -> dict:
        """What the variant's nulls resolved to, and how many bottlenecks went in."""
        activation = self.cfg.activation or VARIANTS[self.cfg.variant]["activation"]
        return {
            "activation": activation,
            "train_layer_norms": self.train_layer_norms(),
            "bottlenecks": len(self.attached),
        }

    def export(self, model, directory: Path) -> None:
        """The trained tensors (bottlenecks, trained norms, any new head) and where the bottlenecks go."""
        export_trained(model, directory / EXPORT_FILE)
        placement = self.placement(model.config.model_type)
        (directory / PLACEMENT_FILE).write_text(json.dumps(placement, indent=2) + "\n", encoding="utf-8")


def attach(model, placement: dict) -> List[str]:
    """Add a zero-output bottleneck after each module whose name ends with one of the patterns;
    their names. Each pattern must match somewhere (a typo would otherwise train nothing there)."""
    import torch

    found = {p: [] for p in placement["patterns"]}
    for name, module in model.named_modules():
        for pattern in found:
            if re.search(rf"(?:^|\.)(?:{pattern})$", name):
                found[pattern].append((name, module))
    missing = [p for p, hits in found.items() if not hits]
    if missing:
        raise ValueError(f"method.target_modules {missing} match no module of this {model.config.model_type} model")
    names = []
    for hits in found.values():
        for name, module in hits:
            if hasattr(module, CHILD):
                continue
            width = getattr(module, "out_features", None) or module.nf  # nn.Linear, or GPT-2's Conv1D
            weight = module.weight
            block = bottleneck(width, max(1, width // placement["reduction_factor"]), placement["activation"])
            module.add_module(CHILD, block.to(device=weight.device, dtype=torch.float32))
            module.register_forward_hook(add_bottleneck)
            names.append(name)
    return names


def attach_exported(model, directory: Path):
    """A base model with an exported adapter on it (the same base the run loaded)."""
    from safetensors.torch import load_file

    placement = json.loads((Path(directory) / PLACEMENT_FILE).read_text(encoding="utf-8"))
    attach(model, placement)
    model.load_state_dict(load_file(str(Path(directory) / EXPORT_FILE)), strict=False)
    return model


def add_bottleneck(module, args, output):
    """The forward hook: the projection's output plus its bottleneck's (kept in fp32 over a
    low-precision base)."""
    block = getattr(module, CHILD)
    return output + block(output.to(block.up.weight.dtype)).to(output.dtype)


def bottleneck(width: int, size: int, activation: str):
    """down (width -> size), the nonlinearity, up (size -> width) with up zeroed: outputs 0 at step 0."""
    from torch import nn

    functions = {"relu": nn.ReLU, "swish": nn.SiLU, "gelu": nn.GELU, "tanh": nn.Tanh}
    block = nn.Sequential()
    block.add_module("down", nn.Linear(width, size))
    block.add_module("activation", functions[activation]())
    block.add_module("up", nn.Linear(size, width))
    nn.init.zeros_(block.up.weight)
    nn.init.zeros_(block.up.bias)
    return block
