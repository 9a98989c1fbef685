"""The schema every method's config group shares (conf/method/): the optimisation settings and their
checks. Each method's module extends MethodConfig with its own fields (ptlab/methods/); kept apart
from ptlab/config/schema.py so the method registry and the run schema need not import each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import List, Optional

from ptlab.errors import ConfigError


class Schedule(str, Enum):
    """transformers.get_scheduler names that need nothing but warmup and total steps."""

    linear = "linear"
    cosine = "cosine"
    cosine_with_restarts = "cosine_with_restarts"
    polynomial = "polynomial"
    constant = "constant"
    constant_with_warmup = "constant_with_warmup"
    inverse_sqrt = "inverse_sqrt"


@dataclass
class MethodConfig:
    """Shared optimisation settings; each method's module extends it with its own fields."""

    name: str
    lr: float = 1e-4
    weight_decay: float = 0.0
    warmup_ratio: float = 0.06
    schedule: Schedule = Schedule.linear
    export_adapter: bool = True  # peft methods: save the best adapter in peft's format
    # hparams_search=optuna tunes lr log-uniformly in [low, high]; hparams_search=grid tries each of
    # lr_grid. Per method: prompt tuning wants rates ~1000x full fine-tuning's.
    lr_range: Optional[List[float]] = None
    lr_grid: Optional[List[float]] = None

    def check(self) -> None:
        if not self.lr > 0:
            raise ConfigError(f"method.lr must be > 0, got {self.lr}")
        if self.lr_range is not None and not (len(self.lr_range) == 2 and 0 < self.lr_range[0] < self.lr_range[1]):
            raise ConfigError(f"method.lr_range must be [low, high] with 0 < low < high, got {self.lr_range}")
        if self.lr_grid is not None and not (self.lr_grid and all(lr > 0 for lr in self.lr_grid)):
            raise ConfigError(f"method.lr_grid must be a non-empty list of rates > 0, got {self.lr_grid}")
        if self.weight_decay < 0:
            raise ConfigError(f"method.weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"method.warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
