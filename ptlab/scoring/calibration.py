"""Calibrated rank scores, reported beside the raw ones (never instead of them).

- Contextual calibration (Zhao et al. 2021, "Calibrate before use"): the LM's probabilities over
  the choices for content-free inputs (the template with every field set to "N/A", "", "[MASK]")
  estimate its bias; a prediction is the argmax of p(y | x) / p_cf(y), p_cf averaged over them.
- Domain-conditional PMI (Holtzman et al. 2021): the answer's log-probability after the prompt
  minus its log-probability after the template's bare answer cue (the text after the last field,
  e.g. "Sentiment:"). lm-eval's `acc_mutual_info` conditions on an empty context instead.

Each costs one scorer call per content-free input (or one for the cue) per evaluation pass, not
per example (the model can change between validations, so each pass computes them anew), and
only when one of its metrics is in `task.metrics`.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Callable, List, Optional


@dataclass
class CalibrationConfig:
    content_free: List[str] = field(default_factory=lambda: ["N/A", "", "[MASK]"])
    cue: Optional[str] = None  # null: the template's text after its last field, stripped


def bare_cue(template: str) -> str:
    """The literal text after the template's last field: "Review: {text}\\nSentiment:" -> "Sentiment:"."""
    tail = ""
    for literal, name, _, _ in string.Formatter().parse(template):
        tail = tail + literal if name is None else ""  # "{{"/"}}" split a literal in several parts
    return tail.strip()


def cue_of(template: str, cfg: CalibrationConfig) -> str:
    """The text PMI conditions the answer on: `cfg.cue`, else the template's bare cue."""
    return cfg.cue if cfg.cue is not None else bare_cue(template)


CALIBRATED = ("accuracy_calibrated", "macro_f1_calibrated")  # metrics that read the calibrated scores
PMI = ("accuracy_pmi",)


def check(cfg: CalibrationConfig, template: str, template_key: str, metrics: List[str]) -> None:
    """The baselines the requested metrics need can be computed (else a ConfigError naming the key)."""
    from ptlab.errors import ConfigError

    if any(m in metrics for m in CALIBRATED) and not cfg.content_free:
        raise ConfigError(
            "task.calibration.content_free is empty: the calibrated metrics in task.metrics need at "
            "least one content-free input (default [N/A, '', '[MASK]'])"
        )
    if any(m in metrics for m in PMI) and not cue_of(template, cfg).strip():
        raise ConfigError(
            f"task.metrics has accuracy_pmi, but {template_key} has no text after its last field to "
            f"condition the answer on: set task.calibration.cue (e.g. 'Answer:') or drop accuracy_pmi"
        )


class Baseline:
    """The content-free class distribution and the cue's scores, for one evaluation pass."""

    def __init__(
        self,
        score: Callable,
        prompt_ids: Callable,
        fields: List[str],
        template: str,
        cfg: CalibrationConfig,
        calibrate: bool,
        with_cue: bool,
    ):
        """`score(prompts) -> (summed, mean)` over the choices; `prompt_ids(text) -> ids`."""
        self.log_p_cf = self.cue_scores = None
        if calibrate:
            free = [prompt_ids(template.format(**{f: text for f in fields})) for text in cfg.content_free]
            summed, _ = score(free)
            # p_cf: the mean over content-free inputs of each input's distribution over the choices
            self.log_p_cf = summed.float().softmax(-1).mean(0).log()
        if with_cue:  # an LM scores the answer after the bare cue; a classification head has no answer text
            self.cue_scores = score([prompt_ids(cue_of(template, cfg))])[0][0]

    def calibrated(self, summed):
        """log p(y | x) - log p_cf(y), over the choices (its argmax is the calibrated prediction)."""
        return summed.float().log_softmax(-1) - self.log_p_cf.to(summed.device)

    def pmi(self, summed):
        return summed.float() - self.cue_scores.to(summed.device)
