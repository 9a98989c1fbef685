"""metrics.csv that keeps a resumed run's whole history (conf/logger/csv.yaml).

Lightning's CSV logger deletes the metrics.csv it finds when it starts, so a resumed run's file
began at the resume and every curve read from the run dir (ptlab-report's) was cut short. Here
the earlier rows stay. The rows the resumed run saves first replace the earlier ones from their
step on: steps logged after the checkpoint but before the stop are logged again as the run goes
on from the checkpoint, so each step appears once, as in an uninterrupted run.

The file holds this run's history only because the run dir's decision (ptlab/run/decision.py) moves an
earlier attempt's metrics.csv aside unless the run resumes.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Dict, List, Optional

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from ptlab.run.record import write_text


class ResumableCSVLogger(CSVLogger):
    """Lightning's CSVLogger, writing with `HistoryWriter`, and saving its rows with every
    checkpoint (Lightning's saves every 100 steps): after a kill -9 the file holds every row up to
    the checkpoint the run resumes from."""

    def after_save_checkpoint(self, checkpoint_callback) -> None:
        self.save()

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = HistoryWriter(log_dir=self.log_dir)
        return self._experiment


class HistoryWriter(ExperimentWriter):
    """Keeps the metrics.csv it finds (Lightning's deletes it) and merges it at the first save."""

    def __init__(self, log_dir: str) -> None:
        super().__init__(log_dir)
        self.history: Optional[List[Dict[str, Any]]] = _rows(Path(self.metrics_file_path))

    def _check_log_dir_exists(self) -> None:
        """Lightning's deletes metrics.csv here (a private name: tests/test_resume_history.py fails
        when an upgrade renames it and the file is deleted again)."""

    def save(self) -> None:
        if self.history is None or not self.metrics:
            return super().save()
        first = min(row["step"] for row in self.metrics)
        rows = [row for row in self.history if _step(row) < first] + self.metrics
        self.metrics_keys = sorted({key for row in rows for key in row})
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=self.metrics_keys)
        writer.writeheader()
        writer.writerows(rows)
        write_text(Path(self.metrics_file_path), text.getvalue())  # whole or not at all
        self.history, self.metrics = None, []


def _rows(path: Path) -> Optional[List[Dict[str, Any]]]:
    """An earlier attempt's rows (empty cells left out; a row cut short by a kill, too), or None
    when there is no file."""
    if not path.is_file():
        return None
    with path.open(newline="") as f:
        rows = [{k: v for k, v in row.items() if v not in ("", None) and k is not None} for row in csv.DictReader(f)]
    return [row for row in rows if _step(row) is not None]


def _step(row: Dict[str, Any]) -> Optional[float]:
    try:
        return float(row["step"])
    except (KeyError, ValueError):
        return None
