"""Peak memory per device and step time of one training setting, from a measured Footprint, and the
cheapest change that makes a setting fit.

Per device: weights + AdamW's two moments + the larger of (the activations autograd saves + the
largest saved tensor's gradient, the transient at the start of backward: for an LM, the logits')
and the gradients of what trains, which backward writes as it frees the activations (both, when
gradients accumulate over micro-batches). FSDP over N devices divides the blocks' weights, gradients and
moments by N, not the activations. Activations were traced at the model's dtype; under a 16-bit
autocast of an fp32 model they are counted at half. Step time is FLOPs over peak x utilisation:
2 per Linear weight and token forward, as much again backward for the input gradients, again for
trained weights, the attention products beside them, and one more forward where checkpointing
recomputes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

from ptlab.planning.devices import Device
from ptlab.planning.footprint import Footprint

ADAM_MOMENTS = 2
SHARDS = (2, 4, 8, 16, 32, 64)  # FSDP sizes tried when more devices are the fix


@dataclass(frozen=True)
class Setting:
    batch: int  # micro-batch per device
    checkpointing: bool = False
    shards: int = 1  # FSDP over this many devices (1: every device holds everything)
    accumulation: int = 1  # micro-batches per optimizer step (a smaller micro-batch, same global batch)

    def describe(self, base: "Setting") -> str:
        parts = []
        if self.checkpointing and not base.checkpointing:
            parts.append("checkpointing")
        if self.shards != base.shards:
            parts.append(f"FSDP over {self.shards}")
        if self.batch != base.batch:
            parts.append(f"batch {self.batch} x {self.accumulation} accumulated")
        return " + ".join(parts)


@dataclass(frozen=True)
class Estimate:
    weights: int
    gradients: int
    optimizer: int
    activations: int
    transient: int
    step_seconds: float  # one optimizer step (all accumulated micro-batches) on one device
    accumulating: bool = False  # gradients outlive a micro-batch (accumulation over several)

    @property
    def total(self) -> int:
        """The peak: backward frees the saved activations as it writes the gradients (which do not
        exist before it: they are set to None after each step), so a step holds the larger of the
        two at once, not their sum, unless gradients accumulate over micro-batches."""
        live = self.activations + self.transient
        working = live + self.gradients if self.accumulating else max(live, self.gradients)
        return self.weights + self.optimizer + working


@dataclass(frozen=True)
class Case:
    """One model x method on one kind of device, its footprint traced at `measured_batch`."""

    footprint: Footprint
    measured_batch: int
    device: Device
    precision: str  # the trainer's: 16-bit ones count the device's bf16 throughput
    half_activations: bool  # a 16-bit autocast over an fp32 model: activations at half the traced bytes
    utilisation: float  # the share of peak FLOP/s a step reaches
    can_checkpoint: bool
    can_shard: bool = True  # ptlab-train runs the method under trainer=fsdp (Method.shardable)

    def estimate(self, setting: Setting) -> Estimate:
        fp = self.footprint
        ratio = setting.batch / self.measured_batch
        every = fp.frozen_bytes + fp.trainable_bytes
        sharded_share = fp.sharded_bytes / every if every else 0.0
        if not 0 <= sharded_share <= 1:  # the blocks are part of the model, counted in the same bytes
            raise ValueError(f"ptlab-plan: the blocks' {fp.sharded_bytes} bytes exceed the model's {every}")
        per_device = 1 - sharded_share + sharded_share / setting.shards
        trained = fp.trainable_bytes * per_device
        tokens = fp.tokens * ratio
        linear = 2.0 * fp.matmul_weights * tokens
        forward = linear + fp.attention_flops * ratio
        backward = linear + 2.0 * fp.trained_matmul_weights * tokens + 2 * fp.attention_flops * ratio
        flops = (forward * (2 if setting.checkpointing else 1) + backward) * setting.accumulation
        scale = ratio * (0.5 if self.half_activations else 1.0)
        return Estimate(
            weights=int(every * per_device),
            gradients=int(trained),
            optimizer=int(ADAM_MOMENTS * trained),
            activations=int((fp.checkpointed if setting.checkpointing else fp.activations) * scale),
            transient=int(fp.largest_saved * scale),
            step_seconds=flops / (self.device.flops(self.precision) * self.utilisation),
            accumulating=setting.accumulation > 1,
        )

    def fits(self, setting: Setting) -> bool:
        return self.estimate(setting).total <= self.device.memory

    def fix(self, base: Setting, count: int) -> Optional[Setting]:
        """The first setting that fits, in order of what it costs: checkpointing (a forward more),
        FSDP over the `count` devices already asked for, both; a smaller micro-batch with the same
        global batch; then FSDP over more devices. None: nothing on this list fits."""
        checkpoints = [base.checkpointing] + ([True] if self.can_checkpoint and not base.checkpointing else [])
        shards = [base.shards] + ([count] if self.can_shard and count > base.shards else [])
        for batch in [d for d in range(base.batch, 0, -1) if base.batch % d == 0]:
            for shard in shards:
                for checkpointing in checkpoints:
                    candidate = replace(
                        base, batch=batch, accumulation=base.batch // batch, shards=shard, checkpointing=checkpointing
                    )
                    if candidate != base and self.fits(candidate):
                        return candidate
        for shard in SHARDS if self.can_shard else ():
            if shard > max(count, base.shards):
                candidate = replace(base, shards=shard, checkpointing=checkpoints[-1])
                if self.fits(candidate):
                    return candidate
        return None
