"""What a run hands to Weights & Biases for review, and what it never hands anyone (secrets).

W&B sees the full resolved config (secrets redacted), parameter counts, a summary holding the
best validation value, a table of per-example predictions, and results.json as an artifact. The
run id comes from the run's identity, so a resumed or requeued run continues the same W&B run.
"""

from __future__ import annotations

import hashlib
import netrc
import os
import re
from pathlib import Path
from typing import Any, Dict

# hf_token, access_token, wandb_api_key, client_secret, password; not num_virtual_tokens.
SECRET_KEY = re.compile(r"(^|[_.-])(api[_-]?key|token|secret|password|passwd)$", re.IGNORECASE)
REDACTED = "<redacted>"


def redact(node: Any) -> Any:
    """The config with every value under a secret-looking key replaced."""
    if isinstance(node, dict):
        return {k: REDACTED if SECRET_KEY.search(str(k)) else redact(v) for k, v in node.items()}
    if isinstance(node, list):
        return [redact(v) for v in node]
    return node


def run_tag(exclude) -> str:
    """The run's other overrides as `key=value,...` (Hydra's override_dirname), secrets redacted.

    Names the run's directory and W&B id; a secret given on the command line must not end up
    in a path.
    """
    from hydra.core.hydra_config import HydraConfig

    overrides = HydraConfig.get().overrides.task
    return ",".join(sorted(redact_override(o) for o in overrides if o.partition("=")[0].lstrip("+~") not in exclude))


def redact_override(override: str) -> str:
    """`key=value` from the command line, the value redacted when the key looks like a secret."""
    key, _, value = str(override).partition("=")
    return f"{key}={REDACTED}" if SECRET_KEY.search(key.lstrip("+~")) else str(override)


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


def wandb_loggers(trainer):
    from lightning.pytorch.loggers import WandbLogger

    return [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]


def start(trainer, config: Dict[str, Any], main_metric: str, params: Dict[str, Any]) -> None:
    for logger in wandb_loggers(trainer):
        run = logger.experiment
        run.config.update(redact(config), allow_val_change=True)
        run.define_metric(f"val/{main_metric}", summary="max")  # the summary keeps the best value
        run.summary.update({f"params/{k}": v for k, v in params.items()})


def finish(trainer, predictions: Dict[str, list], results_path: Path, status: str) -> None:
    """Log the prediction tables and results.json, and close the run (one per sweep point)."""
    import wandb

    for logger in wandb_loggers(trainer):
        run = logger.experiment
        for split, rows in predictions.items():
            if rows:
                columns = list(rows[0])
                table = wandb.Table(columns=columns, data=[[_cell(r[c]) for c in columns] for r in rows])
                run.log({f"predictions/{split}": table})
        if results_path.exists():
            artifact = wandb.Artifact(f"results-{run.id}", type="results")
            artifact.add_file(str(results_path))
            run.log_artifact(artifact)
        run.finish(exit_code=0 if status == "completed" else 1)


def _cell(value: Any) -> Any:
    return value if isinstance(value, (str, int, float)) else repr(value)
