"""Read one split of a task into `Example`s, from local files (tsv, csv, jsonl) or the HF Hub.

Every bad input raises one `DataError` whose message names the file and line (or hub row) and,
where it can, the fix. Nothing is printed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple
from urllib.parse import urlparse

from ptlab.config import TaskConfig
from ptlab.errors import DataError
from ptlab.kinds import kind_of


@dataclass
class Example:
    fields: Dict[str, str]  # template field -> text (every task.columns key but the kind's answer columns)
    label: Optional[int] = None  # classification: class index into list(task.labels)
    target: Optional[str] = None  # generation: the reference text
    where: str = ""  # "path/to/file:LINE" or "hub:<path>/<split>[i]", for error messages
    references: Optional[List[str]] = None  # generation eval: every reference of this source


def resolve_data_dir(configured: Optional[str]) -> Optional[Path]:
    """paths.data_dir if set, else $PTLAB_DATA_DIR if set, else None."""
    value = configured or os.environ.get("PTLAB_DATA_DIR")
    return Path(value).expanduser() if value else None


def declared_splits(task: TaskConfig) -> List[str]:
    """The ptlab split names the task declares, local files first, then hub splits."""
    splits = list(task.local.files) if task.local else []
    splits += [s for s in (task.hub.splits if task.hub else {}) if s not in splits]
    return splits


def load_split(task: TaskConfig, split: str, source: str, data_dir: Optional[Path]) -> List[Example]:
    """All examples of `split` ("train", "validation" or "test"), in file order."""
    if split not in declared_splits(task):
        raise DataError(f"task {task.name} declares no split {split!r}; declared: {declared_splits(task)}")
    if source not in ("auto", "local", "hub"):
        raise DataError(f"data.source must be auto, local or hub, got {source!r}")
    has_local = task.local is not None and split in task.local.files
    if source == "auto":
        source = "local" if data_dir is not None and has_local else "hub"
    if source == "local":
        if not has_local:
            raise DataError(
                f"task {task.name} declares no local file for split {split!r} "
                f"(task.local.files: {dict(task.local.files) if task.local else {}})"
            )
        if data_dir is None:
            raise DataError(
                f"task {task.name}: data.source=local but no data directory is set. To fix: {_how_to_fix(task, split)}"
            )
        return _load_local(task, split, Path(data_dir))
    return _load_hub(task, split, data_dir)


def _how_to_fix(task: TaskConfig, split: str) -> str:
    ways = []
    if task.local is not None and split in task.local.files:
        ways.append(
            f"set PTLAB_DATA_DIR (or paths.data_dir=...) to a folder holding {task.local.dir}/{task.local.files[split]}"
        )
    if task.hub is not None:
        ways.append(f"make the hub dataset {_hub_label(task)} reachable")
    return ", or ".join(ways)


# ---------------------------------------------------------------- local files


def _load_local(task: TaskConfig, split: str, data_dir: Path) -> List[Example]:
    local = task.local
    if not data_dir.is_dir():
        raise DataError(f"data directory {data_dir} does not exist (set by paths.data_dir or PTLAB_DATA_DIR)")
    folder = data_dir / local.dir
    path = folder / local.files[split]
    if not folder.is_dir():
        raise DataError(f"task folder {folder} does not exist (expected {path})")
    if not path.is_file():
        present = sorted(p.name for p in folder.iterdir())
        raise DataError(f"data file {path} does not exist; {folder} holds {present}")

    text = _read_utf8(path)
    if local.format == "jsonl":
        records = _jsonl_records(path, text, task.columns)
    else:
        # tsv: quotes are plain text. csv: strict, so a quote left open does not swallow the
        # rest of the file into one field, and `"a"b` is not silently read as `ab`.
        tsv = local.format == "tsv"
        fmt = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if tsv else {"strict": True}
        records = _delimited_records(path, text, task.columns, **fmt)
    kind = kind_of(task)
    examples = [kind.example(record, f"{path}:{line}") for line, record in records]
    if not examples:
        raise DataError(f"{path}: no rows (split {split!r} of task {task.name} is empty)")
    return examples


def _read_utf8(path: Path) -> str:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise DataError(
            f"{path}:{line}: not valid UTF-8 (byte 0x{data[err.start]:02x} at offset {err.start})"
        ) from None
    return text.removeprefix("\ufeff")


def _delimited_records(
    path: Path, text: str, columns: Dict[str, str], **fmt: Any
) -> Iterator[Tuple[int, Dict[str, str]]]:
    """(first line of the row, {column: value}) for each data row of a tsv/csv file."""
    reader = csv.reader(io.StringIO(text, newline=""), **fmt)
    header: Optional[List[str]] = None
    end = 0  # last physical line consumed; a quoted csv field may span lines
    try:
        for row in reader:
            line, end = end + 1, reader.line_num
            if not row:  # blank line
                continue
            if header is None:
                header = [name.strip() for name in row]
                _check_columns(columns, header, f"{path}:{line}: header")
                continue
            if len(row) != len(header):
                raise DataError(f"{path}:{line}: expected {len(header)} fields {header}, found {len(row)}")
            yield line, dict(zip(header, row))
    except csv.Error as err:
        if str(err) == "unexpected end of data":  # the parser reached the end inside quotes
            opened = _unclosed_quote_line(text, end + 1, reader.line_num, fmt)
            raise DataError(
                f"{path}:{opened}: a quoted field opened on this line is never closed (it runs to "
                f'the end of the file, line {reader.line_num}); close it with a " and write a '
                f'quote inside a field as ""'
            ) from None
        raise DataError(f"{path}:{reader.line_num}: malformed row ({err})") from None


def _unclosed_quote_line(text: str, row_line: int, last_line: int, fmt: Dict[str, Any]) -> int:
    """The line where the open quote of the row starting at `row_line` opened: its field is the
    last one of the row and holds everything from that line to the end of the file."""
    lines = io.StringIO(text, newline="").readlines()
    rest = io.StringIO("".join(lines[row_line - 1 :]), newline="")
    row = next(csv.reader(rest, **{**fmt, "strict": False}))
    return last_line + 1 - (len(io.StringIO(row[-1], newline="").readlines()) or 1)


def _jsonl_records(path: Path, text: str, columns: Dict[str, str]) -> Iterator[Tuple[int, Dict[str, Any]]]:
    # split on "\n" only: str.splitlines would also break at U+2028 etc. inside JSON strings
    for line, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as err:
            problem = f"{err.msg} at column {err.colno}"
            raise DataError(f"{path}:{line}: not valid JSON ({problem})") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{line}: expected a JSON object, got {type(record).__name__}")
        _check_columns(columns, list(record), f"{path}:{line}: record")
        yield line, record


def _check_columns(columns: Dict[str, str], present: List[str], what: str) -> None:
    missing = [f"{c!r} (task.columns.{f})" for f, c in columns.items() if c not in present]
    if missing:
        raise DataError(f"{what} has no column {', '.join(missing)}; columns present: {present}")


# ---------------------------------------------------------------- hub


def _hub_label(task: TaskConfig) -> str:
    return task.hub.path + (f"/{task.hub.name}" if task.hub.name else "")


def _load_hub(task: TaskConfig, split: str, data_dir: Optional[Path]) -> List[Example]:
    hub = task.hub
    if hub is None or split not in hub.splits:
        raise DataError(
            f"task {task.name} declares no hub split {split!r} "
            f"(task.hub.splits: {dict(hub.splits) if hub else {}}); use data.source=local"
        )
    rename = hub.rename
    where = f"hub:{_hub_label(task)}/{hub.splits[split]}"

    import datasets  # slow import (~1 s): only when the hub is used

    reason = _hub_unreachable(datasets.config)
    if reason is None:
        try:
            ds = datasets.load_dataset(hub.path, hub.name, split=hub.splits[split], revision=hub.revision)
        except Exception as err:  # offline, missing, gated, bad split: all end the same way
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            reason = f"{type(err).__name__}: {first}"
    if reason is not None:
        no_dir = "no data directory is set and " if data_dir is None else ""
        raise DataError(
            f"task {task.name}, split {split}: {no_dir}could not load {where} ({reason}). "
            f"To fix: {_how_to_fix(task, split)}"
        )

    _check_columns(task.columns, [rename.get(c, c) for c in ds.column_names], where)
    kind = kind_of(task)
    rows = ({rename.get(k, k): v for k, v in row.items()} for row in ds)
    examples = [kind.example(row, f"{where}[{i}]") for i, row in enumerate(rows)]
    if not examples:
        raise DataError(f"{where}: no rows (split {split!r} of task {task.name} is empty)")
    return examples


def _hub_unreachable(config: Any) -> Optional[str]:
    """Why the hub cannot be reached, or None to let `datasets` try.

    Offline mode needs no probe (datasets reads its cache and fails at once); otherwise one TCP
    connect, so that a missing network fails in seconds instead of after datasets' retries.
    """
    if config.HF_HUB_OFFLINE:
        return None
    url = urlparse(config.HF_ENDPOINT)
    proxy = urllib.request.getproxies().get(url.scheme)
    target = urlparse(proxy if "://" in (proxy or "") else f"http://{proxy}") if proxy else url
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        socket.create_connection((target.hostname, port), timeout=5).close()
    except OSError as err:
        return f"cannot connect to {target.hostname}:{port}: {err}"
    return None
