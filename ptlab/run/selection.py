"""Which weights a trained run reports: the fixed best-checkpoint rule, applied after training.

The rule is the same for every method (the comparison is fair only if selection is): the best
validation of the main metric over all validations, the final one included, in the direction its
metric spec gives; ties keep the earliest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Tuple

from ptlab.kinds import MetricSpec
from ptlab.run.directory import RunDir


def rule(main: MetricSpec) -> str:
    """The rule in words, for results.json."""
    best = "highest" if main.higher_is_better else "lowest"
    return f"{best} val/{main.name} over all validations incl. the final one; ties keep the earliest"


def best_of_run(
    trainer, module, data, final: Dict[str, float], main: MetricSpec, out: RunDir
) -> Tuple[Dict[str, float], int]:
    """Apply the rule: the best validation of training, unless the final weights beat it. Leaves
    the module holding the chosen weights (saved as best.ckpt); returns their metrics and step."""
    ckpt = trainer.checkpoint_callback
    best_path = Path(ckpt.best_model_path) if ckpt and ckpt.best_model_path else None
    score = float(ckpt.best_model_score) if best_path else None
    if score is None or (final[main.name] > score if main.higher_is_better else final[main.name] < score):
        best_path = out.best_ckpt
        trainer.save_checkpoint(best_path)
        return final, trainer.global_step
    # through the strategy: under FSDP the module's parameters are shards (DTensors) that only the
    # strategy can fill from a checkpoint; on one device this is torch.load + load_state_dict
    state = trainer.strategy.load_checkpoint(best_path, weights_only=True)
    if state["global_step"] == trainer.global_step:
        return final, trainer.global_step
    trainer.strategy.load_model_state_dict(state, strict=module.strict_loading)
    return validate_now(trainer, module, data), state["global_step"]


def validate_now(trainer, module, data) -> Dict[str, float]:
    return logged_metrics(trainer.validate(module, datamodule=data, verbose=False)[0], "val")


def logged_metrics(logged, split: str) -> Dict[str, float]:
    return {k.split("/", 1)[1]: float(v) for k, v in logged.items() if k.startswith(f"{split}/")}
