"""What a person sees while runs run: ptlab's own lines on the console, library noise in a file.

Per run the console shows one header line, training progress (a bar on a terminal; a line every
tenth of the run in SLURM logs and pipes, which stay short), one line per validation and the
results, with one warning line where the predictions collapsed or scored below a constant answer.
Lightning, transformers, datasets, torch, peft and wandb log records and Python warnings go to
`<run dir>/ptlab.log` instead (and to the console as well with `verbose=true`).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from contextlib import contextmanager, redirect_stderr
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union


from ptlab.run import library_output
from ptlab.config.schema import RunConfig
from ptlab.run.launch import global_rank
from ptlab.run.library_output import StderrToLog
from ptlab.config.redaction import Scrubbing
from ptlab.run.directory import RunDir

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Lightning's CSV logger warns about any file in its directory, and the run dir holds ptlab's own
# config.yaml and results.json (ptlab's own CSV logger keeps a resumed run's metrics.csv and does
# not warn: ptlab/run/metrics_csv.py), so the warning is never news here.
CSV_FALSE_ALARM = r"Experiment logs directory .* exists and is not empty"


@contextmanager
def routed(run: RunConfig, out: Union[Path, RunDir], action: str) -> Iterator[None]:
    """Around one run: print its header, send library logs and warnings to `<out>/ptlab.log`
    (`ptlab.rank<n>.log` on ranks > 0)."""
    rank = global_rank()
    out = RunDir.of(out)
    out.root.mkdir(parents=True, exist_ok=True)
    file = _QuietFileHandler(out.log_of_rank(rank), encoding="utf-8")
    file.setFormatter(logging.Formatter(LOG_FORMAT))
    file.addFilter(Scrubbing())  # no secret in the log (ptlab/config/redaction.py)
    file.handle(_record(logging.INFO, f"{action} {_identity(run)} in {out}"))
    for held in library_output.released():  # warned before this run began (a sweeper's)
        file.handle(_record(logging.WARNING, held, name="py.warnings"))
    stderr = sys.stderr if run.verbose else StderrToLog(sys.stderr, lambda line: _log_line(file, line))
    with _library_logs(file, run.verbose), warnings.catch_warnings(), redirect_stderr(stderr):
        warnings.showwarning = _log_warning
        warnings.filterwarnings("ignore", message=CSV_FALSE_ALARM)
        if rank == 0:
            print(f"ptlab: {_identity(run)}{' (resuming)' if action == 'resume' else ''}: {out}", flush=True)
        try:
            yield
        except BaseException:
            file.handle(_record(logging.ERROR, "the run stopped", sys.exc_info()))
            raise
        finally:
            if isinstance(stderr, StderrToLog):
                stderr.finish()
            file.close()


@contextmanager
def _library_logs(file: logging.Handler, verbose: bool) -> Iterator[None]:
    """Every library's log records to `file` (and to stderr if verbose), none on the console else;
    no transformers/Hub progress bars (loading weights, downloads) either, unless verbose."""
    # Importing these installs their own console handlers, taken off below for the run: Lightning's
    # too, which a run's callbacks would otherwise import only after the routing began.
    import datasets  # noqa: F401
    import huggingface_hub.utils as hub
    import lightning.pytorch  # noqa: F401
    from transformers.utils import logging as transformers_logging

    added = [file]
    if verbose:
        shown = logging.StreamHandler(sys.stderr)
        shown.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        shown.addFilter(lambda record: not record.name.startswith("ptlab"))  # hydra job_logging shows those
        shown.addFilter(Scrubbing())
        added.append(shown)
    root = logging.getLogger()
    detached = _detach_console_handlers()
    for handler in added:
        root.addHandler(handler)
    wandb_silent = os.environ.get("WANDB_SILENT")
    bars = transformers_logging.is_progress_bar_enabled(), not hub.are_progress_bars_disabled()
    if not verbose:  # wandb prints to the terminal itself; silent, it logs to <run dir>/wandb/ only
        os.environ["WANDB_SILENT"] = "true"
        transformers_logging.disable_progress_bar()
        hub.disable_progress_bars()
    try:
        yield
    finally:
        if wandb_silent is None:
            os.environ.pop("WANDB_SILENT", None)
        else:
            os.environ["WANDB_SILENT"] = wandb_silent
        if bars[0]:
            transformers_logging.enable_progress_bar()
        if bars[1]:
            hub.enable_progress_bars()
        for handler in added:
            root.removeHandler(handler)
        for logger, handlers, propagate in detached:
            logger.propagate = propagate
            for handler in handlers:
                logger.addHandler(handler)


class _QuietFileHandler(logging.FileHandler):
    """A log file that cannot be written (a full disk) loses lines; it never prints tracebacks
    over the console's one error line."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        pass


def _log_line(file: logging.Handler, line: str) -> None:
    file.handle(_record(logging.INFO, line, name="stderr"))  # a library's own print, e.g. a tqdm bar


def log_only(line: str) -> None:
    """A line for the run's ptlab.log alone (ptlab's loggers also print to the console)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _QuietFileHandler):
            handler.handle(_record(logging.INFO, line))


def _record(level: int, message: str, exc_info=None, name: str = "ptlab") -> logging.LogRecord:
    """A record for the log file alone (ptlab's loggers also print to the console)."""
    return logging.makeLogRecord(
        {
            "name": name,
            "levelno": level,
            "levelname": logging.getLevelName(level),
            "msg": message,
            "exc_info": exc_info,
        }
    )


def _detach_console_handlers() -> List[Tuple[logging.Logger, List[logging.Handler], bool]]:
    """Lightning, transformers, datasets and torch give their loggers console handlers of their
    own (and some stop propagation): take those off, so every record reaches the root's handlers."""
    streams = {sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__}
    detached = []
    for logger in list(logging.root.manager.loggerDict.values()):
        if not isinstance(logger, logging.Logger):
            continue
        own = [
            h
            for h in logger.handlers
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler) and h.stream in streams
        ]
        if own:
            detached.append((logger, own, logger.propagate))
            for handler in own:
                logger.removeHandler(handler)
            logger.propagate = True
    return detached


def _log_warning(message, category, filename, lineno, file=None, line=None) -> None:
    logging.getLogger("py.warnings").warning(
        "%s", warnings.formatwarning(message, category, filename, lineno, line).rstrip()
    )


def _identity(run: RunConfig) -> str:
    return f"{run.model.name} x {run.method.name} x {run.task.name} x seed {run.seed}"


def results_line(record: Dict[str, Any], path: Path) -> str:
    """The run's main score and time, then where its record is (the line scripts look for); before
    them, a warning where the run may have learned nothing."""
    where = f"ptlab: results in {path}"
    if not record.get("metrics"):  # a rank > 0 of a data-parallel run: rank 0 holds the scores
        return where
    main, metrics = record["main_metric"], record["metrics"]
    score = f"val {main} {metrics['val_best'][main]:.4f}"
    if record["best"]["checkpoint"]:
        score += f" (best, step {record['best']['step']}; final {metrics['val_final'][main]:.4f})"
    if metrics["test"]:
        score += f", test {main} {metrics['test'][main]:.4f}"
    lines = [baseline_warning(record), f"ptlab: done in {duration(record['time']['total_seconds'])}: {score}", where]
    return "\n".join(line for line in lines if line)


def baseline_warning(record: Dict[str, Any]) -> Optional[str]:
    """One line for the evaluated splits whose predictions collapsed to one answer or scored worse
    than a constant answer (results.json's `baselines`, ptlab/scoring/baselines.py); None when none did."""
    main, said = record["main_metric"], []
    for split, found in (record.get("baselines") or {}).items():
        problems = []
        if found["collapsed_to"] is not None:
            problems.append(f"every prediction is {found['collapsed_to']!r}")
        if found["below_baseline"]:
            score = record["metrics"]["val_best" if split == "validation" else split][main]
            majority = found["split_majority"]
            problems.append(
                f"{main} {score:.4f} is worse than the {majority['metrics'][main]:.4f} of always answering "
                f"{majority['answer']!r}, its most frequent answer"
            )
        if problems:
            said.append(f"{split}: {' and '.join(problems)}")
    return f"ptlab: warning: the run may have learned nothing: {'; '.join(said)}" if said else None


def duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
