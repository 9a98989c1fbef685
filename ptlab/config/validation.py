"""`validate`: a composed Hydra config becomes a checked RunConfig, before any model loads.

Each group is merged onto its dataclass (ptlab/config/schema.py), so a wrong type, an unknown key or a
value outside a choice fails naming the key (with the closest known key for a typo); then every
part's own checks and the cross-field rules run, so an impossible value or an impossible
model x method x task combination fails before any download, load or write.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Iterable, List

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from ptlab.config import trainer as trainer_options
from ptlab.config.schema import (
    DataConfig,
    DecodeConfig,
    Family,
    ModelConfig,
    PathsConfig,
    PreemptionConfig,
    ReportConfig,
    RunConfig,
    ScalarsConfig,
)
from ptlab.config.task import TaskConfig
from ptlab.data import formats as local_formats
from ptlab.errors import ConfigError, NotApplicable, did_you_mean
from ptlab.kinds import LM_HEADS, TaskKind, kind_class
from ptlab.methods import Method, method_class
from ptlab.models import training_memory


def _typed(schema: type, node: Any, key: str) -> Any:
    """Merge one config group onto its dataclass; a wrong type or unknown key names `key`."""
    if node is None:
        raise ConfigError(f"config group '{key}' is missing")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), node)
        return OmegaConf.to_object(merged)
    except ConfigKeyError as err:
        full_key = str(getattr(err, "full_key", "") or "")
        *parents, leaf = [key, *full_key.split(".")] if full_key else [key, "?"]
        known = _fields_at(schema, full_key.split(".")[:-1])
        raise ConfigError(f"unknown key {_dotted(*parents, leaf)}{_suggest(leaf, known, parents)}") from None
    except OmegaConfBaseException as err:
        detail = str(err).splitlines()[0]
        full_key = getattr(err, "full_key", None)
        where = f"{key}.{full_key}" if full_key else key
        raise ConfigError(f"bad config value at '{where}': {detail}") from None


def _fields_at(schema: Any, path: List[str]) -> List[str]:
    """The field names of the (nested, possibly Optional) dataclass `path` leads to in `schema`."""
    for name in path:
        hint = typing.get_type_hints(schema).get(name) if dataclasses.is_dataclass(schema) else None
        schema = next((t for t in typing.get_args(hint) or (hint,) if dataclasses.is_dataclass(t)), None)
    return [f.name for f in dataclasses.fields(schema)] if dataclasses.is_dataclass(schema) else []


def _dotted(*parts: str) -> str:
    return ".".join(p for p in parts if p and p != "<top level>")


def _suggest(leaf: str, known: Iterable[str], parents: List[str] = ()) -> str:
    prefix = _dotted(*parents)
    return did_you_mean(leaf, known, f"{prefix}." if prefix else "")


# Composed groups that are not typed here: `_target_` configs instantiated as they are
# (their keys are the targets' own arguments), and Hydra's own settings.
FREE_FORM_GROUPS = ("logger", "callbacks", "hydra")


def _check_top_level(cfg: DictConfig) -> None:
    """A key no schema knows (`+sed=3`, `+trainr.max_steps=3`) is a typo, never silently ignored."""
    known = [f.name for f in dataclasses.fields(RunConfig)] + list(FREE_FORM_GROUPS)
    for key in cfg:
        if key not in known:
            raise ConfigError(f"unknown key {key}{_suggest(str(key), known)}")


def validate(cfg: DictConfig) -> RunConfig:
    """Check a composed Hydra config and return its typed form, before any model is loaded."""
    _check_top_level(cfg)
    method = method_class(OmegaConf.select(cfg, "method.name"))
    kind = kind_class(OmegaConf.select(cfg, "task.kind"))
    scalar_keys = [f.name for f in dataclasses.fields(ScalarsConfig)]
    scalars = _typed(ScalarsConfig, {k: cfg[k] for k in scalar_keys if k in cfg}, "<top level>")
    run = RunConfig(
        model=_typed(ModelConfig, cfg.get("model"), "model"),
        method=_typed(method.config, cfg.get("method"), "method"),
        task=_typed(kind.config, cfg.get("task"), "task"),
        data=_typed(DataConfig, cfg.get("data", {}), "data"),
        decode=_typed(DecodeConfig, cfg.get("decode", {}), "decode"),
        paths=_typed(PathsConfig, cfg.get("paths"), "paths"),
        trainer=OmegaConf.to_container(cfg.get("trainer", {}), resolve=True),
        preemption=_typed(PreemptionConfig, cfg.get("preemption", {}), "preemption"),
        report=_typed(ReportConfig, cfg.get("report", {}), "report"),
        **dataclasses.asdict(scalars),
    )
    for part in (run.model, run.method, run.data, run.decode, run.preemption, run.report):
        part.check()
    trainer_options.check(run.trainer)
    task_kind = check_task(run.task)
    _check_combination(run, task_kind, method(run, task_kind))
    run.task = task_kind.for_head(task_kind.head(run.model.family))
    return run


def check_task(task: TaskConfig) -> TaskKind:
    """A task's checks before any file is read: its schema's, its files' formats (plug-ins, which
    the schema does not ask), then its kind's. Returns the kind."""
    task.check()
    if task.local is not None:
        local_formats.check_local(task.local)
    task_kind = kind_class(task.kind)(task)
    task_kind.check()
    return task_kind


def _check_combination(run: RunConfig, kind: TaskKind, method: Method) -> None:
    """Rules across groups, asked of the kind and the method (never of their names)."""
    family = run.model.family
    head = kind.head(family)
    if method.needs_lm_head and family not in LM_HEADS:  # an LM on a task it has no head for: below
        raise NotApplicable(
            f"method={method.name} needs a model with an LM head; model={run.model.name} is an "
            f"encoder with a classification head (family={family.value}). Use a causal or seq2seq model."
        )
    if head is None:
        able = [f.value for f in Family if kind.head(f) is not None]
        raise NotApplicable(
            f"task={run.task.name} is a {kind.name} task; model={run.model.name} (family={family.value}) "
            f"cannot {kind.action}. Use a model of family {' or '.join(able)}."
        )
    if kind.metrics[run.task.main_metric].lm_only and not head.is_lm:
        raise ConfigError(
            f"task.main_metric={run.task.main_metric} needs an LM head; model={run.model.name} "
            f"(family={family.value}) has none. Pick another main metric for this model."
        )
    if method.trains and not head.trainable:
        raise ConfigError(
            f"method={method.name} trains, but model={run.model.name} (family={family.value}) has no local "
            f"weights to train; use method=zero_shot (or another method that does not train)"
        )
    if family == Family.api and run.decode.num_beams != 1:
        raise ConfigError(
            f"decode.num_beams={run.decode.num_beams}: model={run.model.name} (family=api) decodes greedily "
            f"through /v1/completions, which has no beam search; set decode.num_beams=1"
        )
    steps, epochs = run.trainer.get("max_steps", -1), run.trainer.get("max_epochs")
    if method.trains and steps in (-1, None) and epochs in (-1, None):
        raise ConfigError("training needs an end: set trainer.max_steps or trainer.max_epochs")
    if run.data.k is not None and run.data.k_per_class is not None:
        raise ConfigError("set data.k or data.k_per_class, not both")
    if run.data.k_per_class is not None and kind.label_words() is None:
        raise ConfigError(f"data.k_per_class needs a task with classes; a {kind.name} task has none (use data.k)")
    reason = method.not_applicable_to(run.model)
    if reason:
        raise NotApplicable(f"method={method.name} does not apply to model={run.model.name}: {reason}")
    method.check()
    training_memory.check(run, method)
