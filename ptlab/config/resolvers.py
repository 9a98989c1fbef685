"""ptlab's OmegaConf resolvers, which the shipped configs use; `register()` before composing.

conf/train.yaml finds the named experiments (experiments/experiment/) through ptlab_root;
conf/hydra/default.yaml names run dirs with ptlab_run_dir, ptlab_dir_name and ptlab_run_tag (each part
escaped to one directory name, the whole checked to stay under paths.log_dir, no secret in it);
`oc.env` is replaced by one that records what it reads as secrets (ptlab/config/redaction.py);
conf/callbacks/default.yaml reads the main metric's direction through ptlab_metric_mode;
conf/hparams_search/ reads each method's learning-rate range through ptlab_lr_range/grid, and the
Optuna study's direction (the main metric's) through ptlab_metric_direction;
conf/trainer/fsdp.yaml sizes its data-parallel mesh (devices x nodes) with ptlab_product;
conf/logger/wandb.yaml derives a stable W&B run id and the offline default through the others.
`register()` also makes every config file refuse two keys that YAML reads as one (ptlab/config/yaml_keys.py).
"""

from __future__ import annotations

import hashlib
import math
import netrc
import os
from typing import Any

from omegaconf import OmegaConf

from ptlab.config import redaction, tuning, yaml_keys
from ptlab.config.schema import ROOT
from ptlab.errors import ConfigError
from ptlab.run.directory import dir_name, inside


def register() -> None:
    yaml_keys.install()
    OmegaConf.register_new_resolver("oc.env", redaction.env, replace=True)
    OmegaConf.register_new_resolver("ptlab_root", lambda: str(ROOT), replace=True)
    OmegaConf.register_new_resolver("ptlab_run_id", run_id, replace=True)
    OmegaConf.register_new_resolver("ptlab_run_dir", inside, replace=True)
    OmegaConf.register_new_resolver("ptlab_dir_name", config_dir_name, replace=True)
    OmegaConf.register_new_resolver("ptlab_run_tag", run_tag, replace=True)
    OmegaConf.register_new_resolver("ptlab_wandb_offline", offline_by_default, replace=True)
    OmegaConf.register_new_resolver("ptlab_metric_mode", metric_mode, replace=True)
    OmegaConf.register_new_resolver("ptlab_lr_range", tuning.lr_range, replace=True)
    OmegaConf.register_new_resolver("ptlab_lr_grid", tuning.lr_grid, replace=True)
    OmegaConf.register_new_resolver("ptlab_metric_direction", tuning.direction, replace=True)
    OmegaConf.register_new_resolver("ptlab_product", lambda *values: math.prod(int(v) for v in values), replace=True)


def metric_mode(kind: str, metric: str) -> str:
    """max or min: the direction of a task's main metric, as its kind's metric spec says (for
    conf/callbacks/default.yaml's best-checkpoint rule)."""
    from ptlab.kinds import kind_class

    return kind_class(kind).metrics[metric].mode


def config_dir_name(key: str, _root_) -> str:
    """The value at `key` as one directory name of the run's path (run_dir.dir_name). A value read
    from the environment, or holding a credential, is refused: a path is printed and shared."""
    value, names = redaction.reading_env(lambda: OmegaConf.select(_root_, key))
    if names or redaction.looks_secret(str(value)):
        source = f"the environment ({', '.join(names)})" if names else "a credential (not shown)"
        raise ConfigError(
            f"{key} takes its value from {source}, which ptlab treats as a secret, and {key} names the run "
            f"directory: give it in plain text"
        )
    return dir_name(str(value))


def run_tag(exclude) -> str:
    """The run's other overrides as `key=value,...` (Hydra's override_dirname) as one directory name.

    A key given twice counts once, as Hydra applies it (the last one wins), so `seed=1 seed=1`
    finds the run of `seed=1`; secrets are redacted, as a secret must not end up in a path.
    """
    from hydra.core.hydra_config import HydraConfig

    last = {}
    for override in HydraConfig.get().overrides.task:
        key = override.partition("=")[0].lstrip("+~")
        if key not in exclude:
            last[key] = override
    tag = ",".join(sorted(redaction.redact_override(o) for o in last.values()))
    return dir_name(tag) if tag else ""


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
