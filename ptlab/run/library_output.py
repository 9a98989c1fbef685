"""What libraries print past logging, kept off the console and put in the run's ptlab.log.

Two routes reach the console around ptlab/run/console.py's routing of log records and warnings:

- Warnings raised outside any run: a sweeper's, before its first run has a directory (Optuna
  and its Hydra sweeper warn about their own deprecations as a sweep starts, a dozen lines that
  bury ptlab's own). `hold()`, called by the CLI before Hydra starts, keeps them in memory;
  the next run writes them at the top of its ptlab.log; a sweep that starts no run drops them.
- Text a library writes to sys.stderr itself: tqdm bars (transformers' "Converting and
  de-quantizing GGUF tensors..."), wandb's terminal warnings. During a run `StderrToLog` stands
  in for sys.stderr: ptlab's own lines go on to the console, the rest to ptlab.log, a bar
  redrawn in place at its first and last states only (the log shows when it began).

Import-light: the CLI holds warnings before anything heavy is imported.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections import deque
from typing import Callable, Deque, List, TextIO

HELD: Deque[str] = deque(maxlen=200)  # a sweep of many trials warns again per trial: the latest


def hold() -> None:
    """From now on, a warning raised outside a run is held for the next run's ptlab.log."""
    warnings.showwarning = _hold


def _hold(message, category, filename, lineno, file=None, line=None) -> None:
    HELD.append(warnings.formatwarning(message, category, filename, lineno, line).rstrip())


class _Held(logging.Handler):
    """A library logger's records, held like the warnings for the next run's ptlab.log."""

    def emit(self, record: logging.LogRecord) -> None:
        HELD.append(f"[{record.levelname} {record.name}] {record.getMessage()}")


def hold_logger(name: str) -> None:
    """Records of logger `name` are held for the next run's ptlab.log instead of printed (Optuna
    logs "A new study created ..." and each trial's result to stderr at INFO, as the sweep runs)."""
    logger = logging.getLogger(name)
    logger.handlers = [_Held()]
    logger.propagate = False


def released() -> List[str]:
    """The warnings held since the last run (formatted as Python prints them), no longer held."""
    held = list(HELD)
    HELD.clear()
    return held


class StderrToLog(io.TextIOBase):
    """sys.stderr during a run: `ptlab:` lines to `console`, any other line to `log`."""

    def __init__(self, console: TextIO, log: Callable[[str], None]) -> None:
        super().__init__()
        self.console, self.log, self.pending = console, log, ""
        self.bar_begun = False  # the pending line is a bar whose first state is logged

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.console, "encoding", None) or "utf-8"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            self._line(line)
            self.bar_begun = False
        if "\r" in self.pending and not self.bar_begun:
            self.bar_begun = True
            self._line(self.pending)
        return len(text)

    def flush(self) -> None:
        self.console.flush()

    def finish(self) -> None:
        """Route what is left without a newline (a bar cut short by an error or Ctrl-C)."""
        if self.pending:
            self._line(self.pending)
            self.pending = ""

    def _line(self, line: str) -> None:
        shown = line.rsplit("\r", 1)[-1].rstrip()  # a bar redrawn in place: its last state
        if shown.startswith("ptlab:"):
            self.console.write(shown + "\n")
            self.console.flush()
        elif shown.strip():
            self.log(shown)
