"""What a run hands to Weights & Biases for review (never a secret: see ptlab/config/redaction.py).

W&B sees the full resolved config (secrets redacted), parameter counts, a summary holding the
best validation value, a table of per-example predictions, and results.json as an artifact. The
run id comes from the run's identity, so a resumed or requeued run continues the same W&B run.
Its record of the command line has secret-looking overrides redacted too (see `wandb_runs`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Dict

from ptlab.config.redaction import redact, redact_override


def wandb_runs(trainer) -> list:
    """The trainer's W&B runs; one not started yet starts with its command line redacted.

    wandb keeps the command line (`sys.argv[1:]`, read as the run starts) in the run's metadata,
    which `wandb sync` uploads, and has no setting for it: `x_disable_meta` would drop the whole
    record (OS, Python, git, CPU/GPU, memory). So `sys.argv` holds a redacted copy while the run
    starts and the real one again at once, for Lightning, which starts other local ranks from it.
    In a multirun each sweep point's run records the sweep's command line, redacted the same way.
    Other ranks have no run (Lightning gives them a dummy with no config or id to log to).
    """
    from lightning.pytorch.loggers import WandbLogger
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    if rank_zero_only.rank > 0:
        return []
    argv = sys.argv
    sys.argv = [argv[0], *map(redact_override, argv[1:])]
    try:
        return [lg.experiment for lg in trainer.loggers if isinstance(lg, WandbLogger)]
    finally:
        sys.argv = argv


def start(trainer, config: Dict[str, Any], main_metric: str, params: Dict[str, Any]) -> None:
    for run in wandb_runs(trainer):
        run.config.update(redact(config), allow_val_change=True)
        run.define_metric(f"val/{main_metric}", summary=_best(config, main_metric))
        run.summary.update({f"params/{k}": v for k, v in params.items()})


def _best(config: Dict[str, Any], metric: str) -> str:
    """The summary that keeps the metric's best value: W&B's max, or min where lower is better (an MSE)."""
    from ptlab.kinds import kind_class

    return kind_class(config["task"]["kind"]).metrics[metric].mode


def finish(trainer, predictions: Dict[str, list], results_path: Path, status: str) -> None:
    """Log the prediction tables and results.json, and close the run (one per sweep point)."""
    runs = wandb_runs(trainer)
    if not runs:  # no W&B logger: importing wandb alone would cost every run about a second
        return
    import wandb

    for run in runs:
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
