"""The method registry: a method is one module in this package, registered by defining its class.

A method module holds its typed config (a MethodConfig dataclass) and a `Method` subclass naming
it (what conf/method/<name>.yaml selects), its capabilities and how it wraps the backbone; the
shared LightningModule (ptlab/run/method_module.py) trains and scores whatever the method wrapped.
Like peft's tuners, a method is one registration: name + config + model change together.

Method modules import torch and peft only inside their hooks: validation reads every schema and
capability before any heavy import, so a bad config fails in well under a second.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Optional, Tuple

from ptlab.config.method import MethodConfig
from ptlab.plugins import discover, lookup

if TYPE_CHECKING:
    from ptlab.config.schema import RunConfig
    from ptlab.kinds import TaskKind


class Method:
    """One method: class attributes say what it is, the hooks what it does to the backbone."""

    name = ""  # conf/method/<name>.yaml sets method.name to this
    config: type = MethodConfig  # the method group's schema
    trains = True  # False: evaluated as loaded (no training split, no checkpoints)
    needs_lm_head = False  # scores through an LM head (an encoder's classification head won't do)
    peft = False  # a peft adapter: trainable-only checkpoints, exported in peft's format
    reads_train_split = None  # None: exactly when it trains; in-context reads it without training
    saves_frozen_weights = False  # checkpoints hold every weight (nothing is frozen)
    report_order = 50  # ptlab-report's column order: fewest trained parameters first
    # What its trained parameters' names contain (None: every weight trains), besides an encoder's
    # new task head: what the shared tests check "only its parameters change" against.
    trained_parameters: Optional[Tuple[str, ...]] = None
    # Why activation checkpointing (model.gradient_checkpointing) cannot work with it (None: it can).
    no_activation_checkpointing: Optional[str] = None
    # Trains sharded under trainer=fsdp (MethodModule.configure_model): tested for full fine-tuning;
    # peft's wrappers meet DTensor shards in their own forward and export, which ptlab does not yet handle.
    shardable = False

    @classmethod
    def reads_train(cls) -> bool:
        """Whether a run of it reads the training split: when it trains, unless it says otherwise."""
        return cls.trains if cls.reads_train_split is None else cls.reads_train_split

    def __init__(self, run: "RunConfig", kind: "TaskKind"):
        self.run, self.cfg, self.kind = run, run.method, kind

    def check(self) -> None:
        """Rules between this method's config and the model/task (torch-free, before any load)."""

    @classmethod
    def not_applicable_to(cls, model) -> Optional[str]:
        """Why this method cannot run on `model` (a ModelConfig), known torch-free before it loads
        (None: it can); validation raises it as NotApplicable, so a sweep skips the point."""
        return None

    def load_options(self) -> dict:
        """Keyword arguments for the backbone's `from_pretrained` (e.g. QLoRA's quantization
        config): how the base is loaded is the method's, so the core passes them on unread."""
        return {}

    def base_weight_bits(self) -> Optional[float]:
        """Bits per weight of the base's quantized Linear layers, scales included (None: not
        quantized, kept at model.dtype): what ptlab-plan counts for the frozen base."""
        return None

    def prepare(self, data) -> None:
        """Before tokenization, with the data read: e.g. take demonstrations from the training split."""

    def summary(self) -> Optional[dict]:
        """What results.json should record about this method's run beyond its config (or None)."""
        return None

    def wrap(self, backbone, reader):
        """The module to train: the backbone with this method's parameters, only those trainable."""
        raise NotImplementedError

    @staticmethod
    def train_new_head(backbone, reader) -> None:
        """Let an encoder's new task head train (everything outside the pretrained body): it starts
        random, so a method that freezes the body must still train it (peft does, as modules_to_save)."""
        if reader.head.is_lm:
            return
        body = f"{backbone.base_model_prefix}."
        for name, parameter in backbone.named_parameters():
            if not name.startswith(body):
                parameter.requires_grad_(True)

    def training_loss(self, model, loss):
        """The loss to train on, given the kind's: a method may add a term of its own."""
        return loss

    def after_optimizer_step(self, model, step: int) -> None:
        """After each optimizer step (gradients still held), `step` steps done: e.g. a schedule of
        the method's own that reads the gradients."""

    def state(self, model) -> dict:
        """What the method keeps outside the model's parameters, saved in each checkpoint so that
        a resumed run continues exactly (e.g. a schedule's running statistics)."""
        return {}

    def load_state(self, model, state: dict) -> None:
        """Restore `state()` from a checkpoint (only called with what `state()` saved)."""

    def export(self, model, directory: Path) -> None:
        """Save the trained method in its library's own format (peft methods: the adapter)."""


@cache
def registry() -> Dict[str, type]:
    """Every method, by name: the Method subclasses defined in this package's modules."""
    return discover(__name__, __path__, Method)


def method_class(name: str) -> type:
    return lookup(registry(), name, "method.name")


def report_order() -> Dict[str, int]:
    return {name: m.report_order for name, m in registry().items()}


def export_trained(model, path: Path) -> None:
    """The model's trained tensors in one safetensors file: the export of a method peft does not
    implement, loaded back onto the same base with `load_state_dict(load_file(path), strict=False)`."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({n: p.detach().contiguous() for n, p in model.named_parameters() if p.requires_grad}, str(path))
