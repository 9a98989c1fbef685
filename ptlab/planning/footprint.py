"""What one training step of a model x method holds in memory, measured rather than modelled: the
model is built on torch's meta device (shapes, no weights: an 8B model costs nothing), wrapped by
the method exactly as a run wraps it, and one forward pass runs with a hook on every tensor autograd
saves for backward. So every architecture, head and method counts what it really keeps (SDPA's
logsumexp rather than an attention matrix, a prefix's key/values, a tied embedding once) with no
per-family formula to drift from the code.

Checkpointing is derived from the same pass: HF checkpoints each `GradientCheckpointingLayer`, so
with it a step keeps what lies outside those blocks, each block's input, and one block recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

import torch
from transformers.pytorch_utils import Conv1D

from ptlab.kinds import Head

MATMULS = (torch.nn.Linear, Conv1D)  # Conv1D: GPT-2's Linear, its weight transposed


@dataclass(frozen=True)
class Footprint:
    """One model x method at one micro-batch (bytes unless said; activations in fp32)."""

    parameters: int  # every parameter (count)
    trainable: int  # those that train (count)
    frozen_bytes: int  # the frozen weights as loaded (a quantized base at its bits)
    trainable_bytes: int  # the trained weights (fp32)
    sharded_bytes: int  # of frozen + trainable: what FSDP can shard (the blocks' weights)
    activations: int  # saved for backward, whole model, no checkpointing, plus the outputs (an LM's
    # logits), which the loss holds through backward though autograd does not save them
    checkpointed: int  # the same with every block checkpointed
    largest_saved: int  # the largest single saved tensor (its gradient is a transient of backward)
    matmul_weights: int  # weights of the Linear layers (count): 2 FLOPs each per token, forward
    trained_matmul_weights: int  # of those, the ones that train (their weight gradients cost as much again)
    blocks: int
    tokens: int  # batch x length
    attention_flops: float  # forward FLOPs of attention scores and mixing, per step


def measure(run, method, reader, num_labels, batch_size: int, length: int) -> Footprint:
    """Build `run.model` on the meta device, wrap it with `method`, and trace one training forward."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    from ptlab.models import training_memory
    from ptlab.models.loading import meta_model

    with torch.device("meta"):
        backbone = meta_model(run.model, run.paths.cache_dir, reader.head, num_labels)
        model = method.wrap(backbone, reader)
        training_memory.train_in_fp32(model)
    model.train()
    owned = {_key(t) for t in list(model.parameters()) + list(model.buffers())}
    blocks = [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]
    saved: Dict[int, int] = {}
    per_block: List[Dict[int, int]] = []  # what each block's forward saved
    current: Optional[Dict[int, int]] = None
    block_inputs = 0

    def pack(t):
        key = _key(t)
        if key not in owned:
            saved[key] = max(saved.get(key, 0), t.untyped_storage().nbytes())
            if current is not None:
                current[key] = saved[key]
        return t

    def enter(module, args, kwargs):
        nonlocal current, block_inputs
        hidden = args[0] if args else kwargs["hidden_states"]
        block_inputs += hidden.untyped_storage().nbytes()
        current = {}
        per_block.append(current)

    def leave(module, args, output):
        nonlocal current
        current = None

    hooks = [b.register_forward_pre_hook(enter, with_kwargs=True) for b in blocks]
    hooks += [b.register_forward_hook(leave) for b in blocks]
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = model(**dummy_batch(reader.head, batch_size, length, num_labels))
    finally:
        for hook in hooks:
            hook.remove()
    in_blocks = {k for r in per_block for k in r}
    held = {_key(t): t.untyped_storage().nbytes() for t in out.values() if isinstance(t, torch.Tensor)}
    outputs = sum(v for k, v in held.items() if k not in saved)
    outside = sum(v for k, v in saved.items() if k not in in_blocks) + outputs
    biggest_block = max((sum(r.values()) for r in per_block), default=0)
    parameters = list(model.parameters())
    trainable = [p for p in parameters if p.requires_grad]
    bits = method.base_weight_bits()
    matmuls = [m.weight for m in model.modules() if isinstance(m, MATMULS)]
    return Footprint(
        parameters=sum(p.numel() for p in parameters),
        trainable=sum(p.numel() for p in trainable),
        frozen_bytes=_frozen_bytes(model, bits),
        trainable_bytes=sum(p.numel() * p.element_size() for p in trainable),
        sharded_bytes=sum(  # the blocks' bytes as stored: a quantized base's at its bits
            _frozen_bytes(b, bits) + sum(p.numel() * p.element_size() for p in b.parameters() if p.requires_grad)
            for b in blocks
        ),
        activations=sum(saved.values()) + outputs,
        checkpointed=outside + block_inputs + biggest_block,
        largest_saved=max(saved.values(), default=0),
        matmul_weights=sum(w.numel() for w in matmuls),
        trained_matmul_weights=sum(w.numel() for w in matmuls if w.requires_grad),
        blocks=len(blocks),
        tokens=batch_size * length,
        attention_flops=_attention_flops(backbone.config, batch_size, length),
    )


def dummy_batch(head: Head, batch_size: int, length: int, num_labels) -> dict:
    """Inputs and labels a head's forward computes its loss from (token ids are all zero: the meta
    device never reads them). No attention mask: rows without padding (building a mask reads its
    values), the worst case of a length-grouped batch."""
    ids = torch.zeros(batch_size, length, dtype=torch.long, device="meta")
    batch = {"input_ids": ids}
    if head in (Head.causal_lm, Head.seq2seq_lm, Head.token_classification):
        batch["labels"] = ids
    elif head == Head.sequence_classification:
        batch["labels"] = torch.zeros(batch_size, dtype=torch.long, device="meta")
    elif head == Head.question_answering:
        batch["start_positions"] = batch["end_positions"] = torch.zeros(batch_size, dtype=torch.long, device="meta")
    return batch


def _key(t: torch.Tensor) -> int:
    """One storage, however many views of it autograd saves (meta storages have no address)."""
    return t.untyped_storage()._cdata


def _frozen_bytes(model, bits) -> int:
    """The frozen parameters' bytes, each tensor once (a tied embedding and LM head share one); a
    quantized base (`bits`) stores Linear weights at that many bits, except the output head, which
    bitsandbytes leaves unquantized."""
    seen, total = set(), 0
    for name, module in model.named_modules():
        for pname, p in module.named_parameters(recurse=False):
            if p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            quantized = bits and isinstance(module, torch.nn.Linear) and pname == "weight" and "lm_head" not in name
            total += int(p.numel() * bits / 8) if quantized else p.numel() * p.element_size()
    return total


def _attention_flops(config, batch_size: int, length: int) -> float:
    """Forward FLOPs of the score and mixing products, 2 x 2 x b x s^2 x d per layer (what 6N omits)."""
    layers = getattr(config, "num_hidden_layers", None) or getattr(config, "num_layers", 0)
    width = getattr(config, "hidden_size", None) or getattr(config, "d_model", 0)
    return 4.0 * batch_size * length * length * width * layers


def real_batch(head: Head, batch_size: int, length: int, vocab_size: int, device="cpu") -> dict:
    """The planner's batch with values, for measuring what it predicts: random token ids, labels
    the ids themselves where they are per token (every position labelled), else zeros."""
    shapes = dummy_batch(head, batch_size, length, 2)
    batch = {k: torch.zeros(v.shape, dtype=v.dtype, device=device) for k, v in shapes.items()}
    batch["input_ids"] = torch.randint(0, vocab_size, (batch_size, length), device=device)
    if shapes.get("labels") is not None and shapes["labels"].shape == shapes["input_ids"].shape:
        batch["labels"] = batch["input_ids"]
    return batch
