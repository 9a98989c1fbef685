"""ptlab's OmegaConf resolvers, which the shipped configs use; `register()` before composing.

conf/train.yaml finds the named experiments (experiments/experiment/) through ptlab_root;
conf/hydra/default.yaml names run dirs with ptlab_run_tag (the overrides, secrets redacted);
conf/callbacks/default.yaml reads the main metric's direction through ptlab_metric_mode;
conf/hparams_search/ reads each method's learning-rate range through ptlab_lr_range/grid;
conf/logger/wandb.yaml derives a stable W&B run id and the offline default through the others.
"""

from __future__ import annotations

import hashlib
import netrc
import os
from typing import Any

from omegaconf import OmegaConf

from ptlab import tuning
from ptlab.config import ROOT
from ptlab.redaction import redact_override


def register() -> None:
    OmegaConf.register_new_resolver("ptlab_root", lambda: str(ROOT), replace=True)
    OmegaConf.register_new_resolver("ptlab_run_id", run_id, replace=True)
    OmegaConf.register_new_resolver("ptlab_run_tag", run_tag, replace=True)
    OmegaConf.register_new_resolver("ptlab_wandb_offline", offline_by_default, replace=True)
    OmegaConf.register_new_resolver("ptlab_metric_mode", metric_mode, replace=True)
    OmegaConf.register_new_resolver("ptlab_lr_range", tuning.lr_range, replace=True)
    OmegaConf.register_new_resolver("ptlab_lr_grid", tuning.lr_grid, replace=True)


def metric_mode(kind: str, metric: str) -> str:
    """max or min: the direction of a task's main metric, as its kind's metric spec says (for
    conf/callbacks/default.yaml's best-checkpoint rule)."""
    from ptlab.kinds import kind_class

    return kind_class(kind).metrics[metric].mode


def run_tag(exclude) -> str:
    """The run's other overrides as `key=value,...` (Hydra's override_dirname), secrets redacted.

    Names the run's directory and W&B id; a secret given on the command line must not end up
    in a path.
    """
    from hydra.core.hydra_config import HydraConfig

    overrides = HydraConfig.get().overrides.task
    tag = ",".join(sorted(redact_override(o) for o in overrides if o.partition("=")[0].lstrip("+~") not in exclude))
    return fitted(tag)


MAX_TAG_BYTES = 200  # file systems refuse names over 255 bytes


def fitted(tag: str) -> str:
    """`tag` as a directory name: one that would pass MAX_TAG_BYTES keeps its start and ends in a
    hash of the whole, so distinct settings stay distinct and the name stays readable."""
    if len(tag.encode()) <= MAX_TAG_BYTES:
        return tag
    digest = hashlib.sha1(tag.encode()).hexdigest()[:12]
    start = tag.encode()[: MAX_TAG_BYTES - len(digest) - 3].decode(errors="ignore")
    return f"{start}...{digest}"


def run_id(*identity: Any) -> str:
    """A W&B run id from the experiment name and the run's overrides (never the clock)."""
    return hashlib.sha1("/".join(map(str, identity)).encode()).hexdigest()[:16]


def offline_by_default() -> bool:
    """Offline unless the user has logged in (an API key in the environment or ~/.netrc)."""
    if os.environ.get("WANDB_API_KEY"):
        return False
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is None
    except (OSError, netrc.NetrcParseError):
        return True
