"""ptlab-report's data: every results.json under the inputs read into one row per run (seed)
(cells.py summarizes them into the table's cells).

Runs may come from several machines copied together or from a sweep that is still partial, so a
file that is not a readable run record becomes a BadRecord for the report to list, never an
exception that hides the other runs; the same run found twice counts once. A record of a
schema_version newer than this ptlab's is such a file too: its fields may mean something else.

Which way a run's metric is better, and its scale, come from its task kind (scale.py): a run
of a kind this ptlab does not know is such an unreadable file too, never ranked the wrong way round.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pandas as pd

from ptlab.errors import PtlabError
from ptlab.methods import report_order
import ptlab.report.baselines as report_baselines
from ptlab.run.record import SCHEMA_VERSION
from ptlab.run.directory import RESULTS, RunDir
from ptlab.report.scale import check_metrics, meaning
from ptlab.report.templates import split_template, split_templates

# --split -> the metrics entry of results.json. `val` is the validation score of the checkpoint
# chosen on that same validation set (optimistic for trained methods when there is no test split);
# `val_final` is the last step's, with no selection.
SOURCES = {"val": "val_best", "val_final": "val_final", "test": "test"}
STATES = {
    "completed": "completed",
    "failed": "failed",
    "running": "incomplete",
    "preempted": "incomplete",
    "interrupted": "incomplete",  # Ctrl-C
}
REQUIRED = ("model", "task", "method", "seed", "status", "schema_version")


def find_results(inputs: Sequence[Path]) -> List[Path]:
    """Every run's results.json under the inputs, once each, even when inputs overlap.

    An earlier attempt's record (attempts/<n>/results.json) is history, not a run (RunDir.under).
    """
    found = set()
    for path in inputs:
        if not path.exists():
            raise PtlabError(f"{path} does not exist")
        if not path.is_dir():
            raise PtlabError(f"{path} is not a directory (pass run or sweep directories)")
        found.update(run.results.resolve() for run in RunDir.under(path))
    if not found:
        raise PtlabError(f"no {RESULTS} found under {', '.join(map(str, inputs))}")
    return sorted(found)


class BadRecord(PtlabError):
    """A results.json that is not a readable run record; the report lists it instead of a run."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"malformed {path}: {reason}")
        self.path, self.reason = path, reason


def read_record(path: Path) -> Dict[str, Any]:
    """A run record with its identity and a known status, or BadRecord with a one-line reason."""
    try:
        text = path.read_text()
        record = json.loads(text)
    except OSError as err:
        raise BadRecord(path, f"cannot be read ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise BadRecord(path, "not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise BadRecord(path, f"not valid JSON ({err})" if text.strip() else "empty file") from None
    if not isinstance(record, dict):
        raise BadRecord(path, f"not a JSON object but {type(record).__name__} (not a ptlab run record)")
    missing = [key for key in REQUIRED if key not in record]
    if missing:
        raise BadRecord(path, f"not a ptlab run record: no {', '.join(missing)}")
    version = record["schema_version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise BadRecord(path, f"schema_version {version!r} is not a record version (1 to {SCHEMA_VERSION})")
    if version > SCHEMA_VERSION:
        raise BadRecord(
            path,
            f"schema_version {version} is newer than this ptlab reads (1 to {SCHEMA_VERSION}): "
            f"report it with the ptlab that wrote it",
        )
    if record["status"] not in STATES:
        raise BadRecord(path, f"unknown status {record['status']!r}")
    return record


def load_run(path: Path, split: str, metric: Optional[str]) -> Dict[str, Any]:
    """One run as a flat row; a file that is not a run record is a BadRecord naming the file."""
    record = read_record(path)
    fingerprint = record.get("fingerprint") or {}  # none in records written before fingerprints
    if not isinstance(fingerprint, dict) or not all(
        isinstance(fingerprint.get(kind), (str, type(None))) for kind in ("config", "data")
    ):
        raise BadRecord(path, "fingerprint is not {config: <hash>, data: <hash>}")
    row = {
        "file": path,
        "name": str(record.get("name")),
        "model": str(record["model"]),
        "task": str(record["task"]),
        "method": str(record["method"]),
        "seed": record["seed"],
        "variant": _variant(path, record),
        "template": _template(record, path),
        "state": STATES[record["status"]],
        "family": str(record.get("family")),
        "config_fingerprint": fingerprint.get("config"),
        "data_fingerprint": fingerprint.get("data"),
        "finished_at": str(record.get("finished_at") or ""),
        "metric": None,
        "value": math.nan,
        "available": (),
    }
    if record["status"] != "completed":
        return row
    scores = _field(record, f"metrics.{SOURCES[split]}", path) or {}  # null: hidden test labels
    name = metric or _field(record, "main_metric", path)
    value = scores.get(name) if isinstance(scores, dict) else None
    if not isinstance(scores, dict) or not isinstance(value, (int, float, type(None))):
        raise BadRecord(path, f"metrics.{SOURCES[split]}.{name} is not a number")
    read = meaning(path.parent, name)  # which way is better, and the scale shown (scale.py)
    if isinstance(read, str):
        raise BadRecord(path, read)
    return {
        **row,
        "metric": name,
        "higher_is_better": read[0],
        "factor": read[1],
        "value": math.nan if value is None else float(value),
        "select": _selection_score(record, name),
        "available": tuple(scores),
        "trainable_fraction": _number(record, "params.trainable_fraction", path),
        "peak_memory_bytes": _number(record, "memory.peak_memory_bytes", path),
        "memory_kind": record["memory"].get("memory_kind"),
        "train_seconds": _number(record, "time.train_seconds", path),
        **report_baselines.run_fields(record, split, name, read[0], math.nan if value is None else float(value)),
    }


def _selection_score(record: Dict[str, Any], name: str) -> float:
    """metrics.val_best[name]: what the tuned table chooses a configuration by, whatever --split reports."""
    value = (record["metrics"].get("val_best") or {}).get(name)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def _field(record: Dict[str, Any], dotted: str, path: Path) -> Any:
    value: Any = record
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            raise BadRecord(path, f"completed run without {dotted}")
        value = value[key]
    return value


def _number(record: Dict[str, Any], dotted: str, path: Path) -> float:
    value = _field(record, dotted, path)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRecord(path, f"{dotted} is not a number")
    return float(value)


def _variant(path: Path, record: Dict[str, Any]) -> str:
    """A sweep's other overrides: the run dir's path below <method>/seed<seed>/ ('' for none)."""
    parts = path.parent.parts
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == record["method"] and parts[i + 1] == f"seed{record['seed']}":
            return "/".join(parts[i + 2 :])
    return ""


def _template(record: Dict[str, Any], path: Path) -> Optional[str]:
    """The run's prompt template: its record's (ptlab-train writes the chosen name), else the
    task.template override its run dir names; None for no template info (older records)."""
    named = record.get("template")
    if named is not None and not isinstance(named, str):
        raise BadRecord(path, f"template is not a name but {type(named).__name__}")
    return named or split_template(_variant(path, record))[1]


def gather(inputs: Sequence[Path], split: str, metric: Optional[str]) -> Tuple[pd.DataFrame, int, List[BadRecord]]:
    """All readable runs under the inputs, one row per seed of a cell; also how many duplicates
    were dropped, and the results.json that could not be read: one bad file must not hide the rest."""
    rows, unreadable = [], []
    for path in find_results(inputs):
        try:
            rows.append(load_run(path, split, metric))
        except BadRecord as bad:
            unreadable.append(bad)
    if not rows:
        more = f" (and {len(unreadable) - 1} more)" if len(unreadable) > 1 else ""
        raise PtlabError(
            f"no readable run record among {len(unreadable)} {RESULTS}: "
            f"{unreadable[0].path}: {unreadable[0].reason}{more}"
        )
    runs = split_templates(pd.DataFrame(rows))
    numbers = ("select", "higher_is_better", "factor", "trainable_fraction", "peak_memory_bytes", "train_seconds")
    numbers += ("baseline", "train_baseline", "collapsed", "below")  # baselines.py
    for column in (*numbers, "memory_kind"):
        if column not in runs:
            runs[column] = math.nan  # no completed run at all
    # A column per method, plus the sweep's other overrides and (when experiments are mixed) the
    # experiment name, so runs with different settings are never averaged together.
    # `setting` is the same without the template: what the prompt-sensitivity section compares across.
    runs["base"] = runs["method"]  # the tuned table's column: one pick among the variants
    runs["column"] = runs["method"] + runs["variant"].map(lambda v: f" [{v}]" if v else "")
    runs["setting"] = runs["method"] + runs["variant"].map(lambda v: f" [{o}]" if (o := split_template(v)[0]) else "")
    if runs["name"].nunique() > 1:
        runs["column"] = runs["name"] + ": " + runs["column"]
        runs["setting"] = runs["name"] + ": " + runs["setting"]
        runs["base"] = runs["name"] + ": " + runs["base"]
    order = report_order()  # the registry's: fewest trained parameters first; unknown methods last
    method_rank = runs["method"].map(lambda m: order.get(m, max(order.values()) + 1))
    ordered = runs.assign(r=method_rank).sort_values(["r", "method", "name", "variant"])["column"].unique()
    runs["rank"] = runs["column"].map({column: i for i, column in enumerate(ordered)})
    check_metrics(runs, split, metric)
    # The same run copied from two machines, or re-run elsewhere after failing, is one seed:
    # a completed record wins, then the latest one.
    runs = runs.assign(unfinished=runs["state"] != "completed").sort_values(
        ["unfinished", "finished_at"], ascending=[True, False]
    )
    duplicate = runs.duplicated(["model", "task", "column", "seed"])
    for path in runs.loc[duplicate, "file"]:
        print(
            f"ptlab-report: warning: {path} repeats a run (model, task, method, seed) that is already counted; ignored",
            file=sys.stderr,
        )
    return runs[~duplicate], int(duplicate.sum()), unreadable
