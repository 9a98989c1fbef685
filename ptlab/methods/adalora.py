"""AdaLoRA (Zhang et al., 2023): LoRA in SVD form (P·E·Q) whose rank budget moves, while it
trains, to the matrices where it matters; through peft's AdaLoraConfig.

peft needs the run's length (`total_step`: trainer.max_steps) and a call of its budget allocator
after every optimizer step, with the step's gradients still held: the `after_optimizer_step`
hook. peft adds AdaLoRA's orthogonality regularizer only to a loss the model computes itself;
ptlab's kinds compute the loss, so `training_loss` adds it, as peft does (Zhang et al., eq. 4).
"""

from dataclasses import dataclass
from typing import List, Optional

from ptlab.config.method import MethodConfig
from ptlab.errors import ConfigError, positive
from ptlab.methods.peft_method import PeftMethod


@dataclass
class AdaLoraMethodConfig(MethodConfig):
    lr: float = 1e-3
    init_r: int = 12  # each matrix's starting rank
    target_r: int = 8  # the average rank the budget shrinks to
    tinit: int = 0  # steps before the budget starts to shrink
    tfinal: int = 0  # steps at the end with the final ranks fixed
    deltaT: int = 1  # steps between two reallocations
    beta1: float = 0.85  # EMA of the importance scores
    beta2: float = 0.85  # EMA of their uncertainty
    orth_reg_weight: float = 0.5
    dropout: float = 0.0
    alpha: int = 32
    target_modules: Optional[List[str]] = None  # null: peft's default per architecture (as LoRA's)

    def check(self) -> None:
        super().check()
        for key in ("init_r", "target_r", "deltaT", "alpha"):
            positive(f"method.{key}", getattr(self, key))
        if self.target_r > self.init_r:
            raise ConfigError(f"method.target_r={self.target_r} exceeds method.init_r={self.init_r}")
        if self.tinit < 0 or self.tfinal < 0 or self.orth_reg_weight < 0:
            raise ConfigError("method.tinit, method.tfinal and method.orth_reg_weight must be >= 0")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1 and 0 <= self.dropout < 1):
            raise ConfigError("method.beta1, method.beta2 and method.dropout must be in [0, 1)")
        if self.target_modules is not None and not self.target_modules:
            raise ConfigError("method.target_modules is empty: name modules to adapt, or null for peft's default")


class AdaLoRA(PeftMethod):
    name = "adalora"
    config = AdaLoraMethodConfig
    report_order = 32  # LoRA's matrices, their rank budget reallocated
    trained_parameters = ("lora_",)

    def check(self) -> None:
        steps = self.run.trainer.get("max_steps", -1)
        if steps in (-1, None):
            raise ConfigError("method=adalora schedules its rank budget over the run: set trainer.max_steps")
        if self.cfg.tinit >= steps - self.cfg.tfinal:
            raise ConfigError(
                f"method.tinit={self.cfg.tinit} leaves no step to reallocate ranks in before method.tfinal="
                f"{self.cfg.tfinal} of trainer.max_steps={steps}; lower them"
            )

    def peft_config(self, reader):
        from peft import AdaLoraConfig

        cfg = self.cfg
        return AdaLoraConfig(
            task_type=self.task_type(reader),
            init_r=cfg.init_r,
            target_r=cfg.target_r,
            tinit=cfg.tinit,
            tfinal=cfg.tfinal,
            deltaT=cfg.deltaT,
            beta1=cfg.beta1,
            beta2=cfg.beta2,
            orth_reg_weight=cfg.orth_reg_weight,
            lora_alpha=cfg.alpha,
            lora_dropout=cfg.dropout,
            total_step=self.run.trainer["max_steps"],
            target_modules=list(cfg.target_modules) if cfg.target_modules else None,
        )

    def training_loss(self, model, loss):
        """Plus orth_reg_weight x the mean over P (each lora_A, lora_B) of ||PPᵀ − I||_F (lora_B:
        PᵀP), peft's regularizer keeping P and Q near-orthogonal."""
        import torch

        terms = []
        for name, p in model.named_parameters():
            if p.requires_grad and ("lora_A" in name or "lora_B" in name):
                cov = p @ p.T if "lora_A" in name else p.T @ p
                terms.append(torch.linalg.matrix_norm(cov - torch.eye(cov.shape[0], device=cov.device)))
        return loss + self.cfg.orth_reg_weight * torch.stack(terms).mean() if terms else loss

    def after_optimizer_step(self, model, step: int) -> None:
        model.base_model.update_and_allocate(step)

    # The allocator's running importance scores and the ranks fixed so far: a resumed run
    # reallocates as the uninterrupted one would.
    STATE = ("ipt", "exp_avg_ipt", "exp_avg_unc")

    def state(self, model) -> dict:
        allocator = model.base_model.rankallocator
        state = {key: dict(getattr(allocator, key)) for key in self.STATE}
        return {**state, "rank_pattern": model.peft_config[model.active_adapter].rank_pattern}

    def load_state(self, model, state: dict) -> None:
        allocator = model.base_model.rankallocator
        for key in self.STATE:
            setattr(allocator, key, dict(state[key]))
        model.peft_config[model.active_adapter].rank_pattern = state["rank_pattern"]
