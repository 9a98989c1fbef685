"""`trainer.*`: the lightning.Trainer arguments a run may set, checked before anything loads.

Lightning checks its arguments only when the Trainer is built, after the data and the model
have loaded, and answers a bad value with a long traceback. The names and value rules here are
checked at validation instead (torch-free, so a config error stays fast); a test keeps the
names in step with the installed Lightning's signature.
"""

from __future__ import annotations

import math

from numbers import Real
from typing import Any, Callable, Dict, Optional

from ptlab.errors import ConfigError, did_you_mean

# lightning.Trainer.__init__'s parameters (Lightning 2.6), less those ptlab sets itself.
SET_BY_PTLAB = ("callbacks", "logger", "plugins", "use_distributed_sampler", "default_root_dir")
TRAINER_ARGS = (
    "accelerator",
    "strategy",
    "devices",
    "num_nodes",
    "precision",
    "fast_dev_run",
    "max_epochs",
    "min_epochs",
    "max_steps",
    "min_steps",
    "max_time",
    "limit_train_batches",
    "limit_val_batches",
    "limit_test_batches",
    "limit_predict_batches",
    "overfit_batches",
    "val_check_interval",
    "check_val_every_n_epoch",
    "num_sanity_val_steps",
    "log_every_n_steps",
    "enable_checkpointing",
    "enable_progress_bar",
    "enable_model_summary",
    "accumulate_grad_batches",
    "gradient_clip_val",
    "gradient_clip_algorithm",
    "deterministic",
    "benchmark",
    "inference_mode",
    "profiler",
    "detect_anomaly",
    "barebones",
    "sync_batchnorm",
    "reload_dataloaders_every_n_epochs",
    "enable_autolog_hparams",
    "model_registry",
)
# lightning.fabric.connector._PRECISION_INPUT (Lightning 2.6).
PRECISIONS = (
    "transformer-engine",
    "transformer-engine-float16",
    "16-true",
    "16-mixed",
    "bf16-true",
    "bf16-mixed",
    "32-true",
    "64-true",
    "64",
    "32",
    "16",
    "bf16",
)


def _int(low: int, none_ok: bool = True) -> Callable[[Any], bool]:
    def ok(value: Any) -> bool:
        if value is None:
            return none_ok
        return isinstance(value, int) and not isinstance(value, bool) and value >= low

    ok.rule = f"an integer >= {low}" + (" (or null)" if none_ok else "")  # type: ignore[attr-defined]
    return ok


def _count_or_fraction(value: Any) -> bool:
    """An integer number of batches, or a float fraction of them (Lightning's limit_* rule)."""
    if value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, Real):
        return False
    return value >= 0 if isinstance(value, int) else 0.0 <= value <= 1.0


_count_or_fraction.rule = "an integer >= 0 or a float in [0, 1]"  # type: ignore[attr-defined]


def _interval(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, Real):
        return False
    return value >= 1 if isinstance(value, int) else 0.0 < value <= 1.0


_interval.rule = "an integer number of steps >= 1 or a float in (0, 1]"  # type: ignore[attr-defined]


def _one_of(*allowed: Any) -> Callable[[Any], bool]:
    def ok(value: Any) -> bool:
        return value in allowed or str(value) in map(str, allowed)

    ok.rule = "one of " + ", ".join(map(str, allowed))  # type: ignore[attr-defined]
    return ok


def _non_negative(value: Any) -> bool:
    return value is None or (not isinstance(value, bool) and isinstance(value, Real) and value >= 0)


_non_negative.rule = "a number >= 0 (or null)"  # type: ignore[attr-defined]

RULES: Dict[str, Callable[[Any], bool]] = {
    "max_steps": _int(-1, none_ok=False),
    "max_epochs": _int(-1),
    "min_steps": _int(0),
    "min_epochs": _int(0),
    "num_nodes": _int(1, none_ok=False),
    "accumulate_grad_batches": _int(1, none_ok=False),
    "check_val_every_n_epoch": _int(1),
    "num_sanity_val_steps": _int(-1),
    "log_every_n_steps": _int(1),
    "reload_dataloaders_every_n_epochs": _int(0, none_ok=False),
    "precision": _one_of(*PRECISIONS, None),
    "gradient_clip_val": _non_negative,
    "gradient_clip_algorithm": _one_of("norm", "value", None),
    "val_check_interval": _interval,
    **{f"limit_{split}_batches": _count_or_fraction for split in ("train", "val", "test", "predict")},
    "overfit_batches": _count_or_fraction,
}


def check(options: Dict[str, Any]) -> None:
    """Every trainer.* key is a Trainer argument ptlab leaves to the user, with a value it takes."""
    for key, value in options.items():
        if key in SET_BY_PTLAB:
            raise ConfigError(f"trainer.{key} is set by ptlab itself; remove it from the config")
        if key not in TRAINER_ARGS:
            hint = did_you_mean(key, TRAINER_ARGS, "trainer.")
            raise ConfigError(f"unknown key trainer.{key}: trainer.* takes lightning.Trainer arguments{hint}")
        rule = RULES.get(key)
        if rule is not None and not rule(value):
            raise ConfigError(f"trainer.{key}={value!r} is not valid: it must be {rule.rule}")
        if key == "val_check_interval" and isinstance(value, float) and options.get("check_val_every_n_epoch") is None:
            raise ConfigError(
                f"trainer.val_check_interval={value!r} is a fraction of an epoch, which Lightning takes only with "
                f"trainer.check_val_every_n_epoch set (ptlab counts steps across epochs: null); give a "
                f"number of steps, or also set trainer.check_val_every_n_epoch=1"
            )
        if key in ("limit_val_batches", "limit_test_batches") and not _all_or_none(value):
            raise ConfigError(
                f"trainer.{key}={value!r} would score only the longest prompts (evaluation batches are "
                f"length-sorted, longest first): use data.eval_limit=N for a fixed subset in split order "
                f"(or trainer.{key}=0 to skip it)"
            )


def _all_or_none(value: Any) -> bool:
    """An evaluation limit that keeps every batch (1.0, null) or none (0)."""
    return value is None or (
        not isinstance(value, bool) and (value == 0 or (isinstance(value, float) and value == 1.0))
    )


def trainer_options(options: Dict[str, Any]) -> Dict[str, Any]:
    """lightning.Trainer arguments; a strategy given as a `_target_` config (FSDP) is built."""
    import hydra

    strategy = options.get("strategy")
    if isinstance(strategy, dict):
        return {**options, "strategy": hydra.utils.instantiate(strategy)}
    return options


def cut_short(options: Dict[str, Any], train_rows: int, batch_size: int, world: int = 1) -> Optional[str]:
    """Why training will stop before the epochs trainer.max_epochs asks for, or None: Lightning
    stops at whichever of max_steps and max_epochs comes first, and ptlab's default max_steps (200)
    silently cut a one-epoch run on 8,000 examples at batch 32 (250 steps) to 80 % of its epoch."""
    steps, epochs = options.get("max_steps", -1), options.get("max_epochs")
    if steps in (None, -1) or epochs in (None, -1):
        return None
    per_epoch = math.ceil(math.ceil(train_rows / (batch_size * world)) / options.get("accumulate_grad_batches", 1))
    if steps >= epochs * per_epoch:
        return None
    return (
        f"trainer.max_steps={steps} stops training after {steps} of the {epochs * per_epoch} steps "
        f"trainer.max_epochs={epochs} asks for ({per_epoch} per epoch); trainer.max_steps=-1 trains whole epochs"
    )
