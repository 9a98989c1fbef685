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
import time
import warnings
from contextlib import contextmanager, redirect_stderr
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from lightning.pytorch.callbacks.progress.progress_bar import ProgressBar
from lightning.pytorch.trainer.states import TrainerFn

from ptlab import library_output
from ptlab.config import RunConfig
from ptlab.launch import global_rank
from ptlab.library_output import StderrToLog
from ptlab.redaction import Scrubbing
from ptlab.run_dir import RunDir

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Lightning's CSV logger warns about any file in its directory, and the run dir holds ptlab's own
# config.yaml and results.json (ptlab's own CSV logger keeps a resumed run's metrics.csv and does
# not warn: ptlab/metrics_csv.py), so the warning is never news here.
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
    file.addFilter(Scrubbing())  # no secret in the log (ptlab/redaction.py)
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
    import datasets  # noqa: F401 - importing these (and lightning, above) installs their own
    import huggingface_hub.utils as hub  # console handlers, taken off below for the run
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


def _log_only(line: str) -> None:
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
    lines = [baseline_warning(record), f"ptlab: done in {_duration(record['time']['total_seconds'])}: {score}", where]
    return "\n".join(line for line in lines if line)


def baseline_warning(record: Dict[str, Any]) -> Optional[str]:
    """One line for the evaluated splits whose predictions collapsed to one answer or scored worse
    than a constant answer (results.json's `baselines`, ptlab/baselines.py); None when none did."""
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


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


class RunProgress(ProgressBar):
    """Lightning's progress bar for ptlab: training steps with loss and tokens/s, one line per
    validation (with the best so far), and evaluation batches on a terminal.

    On a terminal the steps are a tqdm bar; elsewhere (SLURM logs, pipes, tests) a line every tenth
    of the run, so a log of a 2000-step run has about ten of them.
    """

    def __init__(self) -> None:
        super().__init__()
        self.enabled = True
        self.bar = None  # tqdm, on a terminal: training steps
        self.eval_bar = None
        self.total = self.every = self.shown = self.first = 0
        self.started = 0.0
        self.best: Optional[float] = None

    def disable(self) -> None:
        self.enabled = False

    def enable(self) -> None:
        self.enabled = True

    def _write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=sys.stdout)  # above the bar, which is redrawn below
        else:
            print(line, flush=True)

    def on_train_start(self, trainer, pl_module) -> None:
        if not self.enabled:
            return
        self.total = trainer.max_steps if trainer.max_steps > 0 else int(trainer.estimated_stepping_batches)
        self.every = max(1, self.total // 10)
        self.shown = self.first = trainer.global_step
        self.started = time.perf_counter()
        best = trainer.checkpoint_callback.best_model_score if trainer.checkpoint_callback else None
        self.best = None if best is None else float(best)  # a resumed run's earlier validations count
        if sys.stdout.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=self.total, initial=self.first, desc="train", unit="step", file=sys.stdout, dynamic_ncols=True
            )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if not self.enabled or step == self.shown:  # gradient accumulation: no optimizer step yet
            return
        self.shown = step
        loss = trainer.progress_bar_metrics.get("train/loss")
        stats = [f"loss {loss:.4f}"] if loss is not None else []
        if pl_module.train_seconds:
            stats.append(f"{pl_module.train_tokens / pl_module.train_seconds:.0f} tok/s")
        if self.bar is not None:
            self.bar.set_postfix_str(", ".join(stats), refresh=False)
            self.bar.update(step - self.bar.n)
        elif step % self.every == 0 or step == self.total:
            elapsed = time.perf_counter() - self.started
            stats.append(f"{_duration(elapsed)} elapsed")
            if step < self.total:
                stats[-1] += f", ~{_duration(elapsed / (step - self.first) * (self.total - step))} left"
            self._write(f"  step {step}/{self.total}: " + ", ".join(stats))

    def on_train_end(self, trainer, pl_module) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _eval_start(self, trainer, what: str, total) -> None:
        if not trainer.sanity_checking:
            _log_only(f"{what}: scoring {total} batch{'' if total == 1 else 'es'}")  # ptlab.log's timeline of the run
        if self.enabled and sys.stdout.isatty() and not trainer.sanity_checking:
            from tqdm import tqdm

            self.eval_bar = tqdm(
                total=total,
                desc=what,
                unit="batch",
                file=sys.stdout,
                leave=False,
                dynamic_ncols=True,
                position=1 if self.bar is not None else 0,
            )

    def _eval_batch(self) -> None:
        if self.eval_bar is not None:
            self.eval_bar.update(1)

    def _eval_end(self) -> None:
        if self.eval_bar is not None:
            self.eval_bar.close()
            self.eval_bar = None

    def on_validation_start(self, trainer, pl_module) -> None:
        self._eval_start(trainer, "val", sum(trainer.num_val_batches))

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._eval_batch()

    def on_validation_end(self, trainer, pl_module) -> None:
        self._eval_end()
        if not self.enabled or trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return  # the scoring after training is summed up by the results line
        step, values = pl_module.last_val
        main = pl_module.run.task.main_metric
        better = max if pl_module.kind.metrics[main].higher_is_better else min  # the metric's own direction
        self.best = values[main] if self.best is None else better(self.best, values[main])
        shown = ", ".join(f"{k} {v:.4f}" for k, v in values.items())
        self._write(f"  val at step {step}/{self.total}: {shown} (best {main} so far {self.best:.4f})")

    def on_test_start(self, trainer, pl_module) -> None:
        self._eval_start(trainer, "test", sum(trainer.num_test_batches))

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._eval_batch()

    def on_test_end(self, trainer, pl_module) -> None:
        self._eval_end()
