"""What saves training memory without changing what is trained: activation checkpointing
(`model.gradient_checkpointing`), a low-precision frozen base (`model.dtype`) and sharding
(`trainer=fsdp`, for the methods that say they shard).

Checkpointing recomputes each layer's activations in the backward pass instead of keeping them
(non-reentrant, torch's recommended form: it needs no input that requires grad, so prompt methods
work without peft's input-grad hook). A bfloat16/float16 base keeps the frozen weights at half
the bytes while whatever trains is kept in fp32 (AdamW updates are lost in bf16), so the two meet
only under autocast: a trained method on a low-precision base needs a mixed trainer precision.
Checked torch-free at validation; applied when the module is built.
"""

from __future__ import annotations

from ptlab.config.schema import DType, Family
from ptlab.errors import ConfigError
from ptlab.methods import registry

AUTOCAST = {"bf16-mixed": DType.bfloat16, "bf16": DType.bfloat16, "16-mixed": DType.float16, "16": DType.float16}
SHARDED_STRATEGIES = ("ModelParallelStrategy", "FSDPStrategy", "fsdp")  # by class or Lightning's own name


def sharded(trainer) -> bool:
    """Whether trainer.strategy shards the model (Lightning's name or a `_target_` config)."""
    strategy = trainer.get("strategy")
    target = str(strategy.get("_target_", "") if isinstance(strategy, dict) else strategy or "")
    return target.rsplit(".", 1)[-1].split("_")[0] in SHARDED_STRATEGIES


def check(run, method) -> None:
    """The memory options against the model, method and trainer (before anything loads)."""
    model = run.model
    if model.gradient_checkpointing and model.family == Family.api:
        raise ConfigError(f"model.gradient_checkpointing: model {model.name} (family api) has no local weights")
    if model.gradient_checkpointing and method.trains and method.no_activation_checkpointing:
        raise ConfigError(
            f"model.gradient_checkpointing=true cannot work with method={method.name}: "
            f"{method.no_activation_checkpointing}; set it false for this method"
        )
    if sharded(run.trainer) and not method.shardable:
        shardable = ", ".join(sorted(name for name, m in registry().items() if m.shardable))
        raise ConfigError(
            f"trainer.strategy shards the model, which ptlab does for method={shardable} only, not "
            f"method={method.name}; use trainer=ddp (data-parallel) or one device"
        )
    if model.dtype != DType.float32 and method.trains:
        precision = str(run.trainer.get("precision") or "32-true")
        if AUTOCAST.get(precision) != model.dtype:
            wanted = "bf16-mixed" if model.dtype == DType.bfloat16 else "16-mixed"
            raise ConfigError(
                f"model.dtype={model.dtype.value} with method={method.name} (trainer.precision={precision}): the "
                f"frozen {model.dtype.value} weights and the fp32 trained ones meet under autocast only; set "
                f"trainer.precision={wanted}"
            )


def checkpoint_activations(backbone) -> None:
    """Recompute each layer's activations in backward (before a method wraps the backbone)."""
    backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def train_in_fp32(model) -> int:
    """Cast every trained parameter of a low-precision model to fp32 (after the method wrapped it:
    peft keeps its own adapter weights fp32 already); how many tensors were cast."""
    import torch

    cast = 0
    for parameter in model.parameters():
        if parameter.requires_grad and parameter.dtype != torch.float32:
            parameter.data = parameter.data.float()
            cast += 1
    return cast
