"""Read one split of a task into `Example`s, from local files (ptlab/data/formats/) or the HF Hub.

Every bad input raises one `DataError` whose message names the file and line (or hub row) and,
where it can, the fix. Nothing is printed.
"""

from __future__ import annotations

import os
import socket
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional
from urllib.parse import urlparse

from ptlab.config.task import TaskConfig
from ptlab.data import columns as paths_in
from ptlab.data.example import Example
from ptlab.data.formats import check_columns, format_of, split_paths
from ptlab.errors import DataError
from ptlab.kinds import kind_of


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
            f"set PTLAB_DATA_DIR (or paths.data_dir=...) to a folder holding {task.local.dir}/{task.local.file(split)}"
        )
    if task.hub is not None:
        ways.append(f"make the hub dataset {_hub_label(task)} reachable")
    return ", or ".join(ways)


# ---------------------------------------------------------------- local files


def _load_local(task: TaskConfig, split: str, data_dir: Path) -> List[Example]:
    local = task.local.of(split)
    if not data_dir.is_dir():
        raise DataError(f"data directory {data_dir} does not exist (set by paths.data_dir or PTLAB_DATA_DIR)")
    folder = data_dir / local.dir
    paths = split_paths(local, folder, split)
    if not folder.is_dir():
        raise DataError(f"task folder {folder} does not exist (expected {paths[0]})")
    for path in paths:
        if not path.is_file():
            present = sorted(p.name for p in folder.iterdir())
            raise DataError(f"data file {path} does not exist; {folder} holds {present}")
    kind, columns = kind_of(task), split_columns(task, split)
    carve = local.split_by if local.split_by and split in local.split_by.groups else None
    needed = {f"task.columns.{f}": c for f, c in columns.items()}
    if carve is not None:
        needed["task.local.split_by.column"] = carve.column
    records = (
        (where, paths_in.resolved(r, needed, where)) for where, r in format_of(local).records(paths, local, needed)
    )
    if carve is not None:
        records = _in_groups(records, carve.column, *carve.groups[split])
    examples = [kind.example(_as_declared(task, columns, record), where) for where, record in records]
    if not examples:
        raise DataError(f"{paths[0]}: no rows (split {split!r} of task {task.name} is empty)")
    return examples


def _in_groups(records, column: str, first: int, end: Optional[int]):
    """The records whose `column` value is among groups first..end-1, groups numbered by the order
    in which their values first appear in the file."""
    order: Dict[Any, int] = {}
    for where, record in records:
        value = record[column]
        if isinstance(value, (list, dict)):
            raise DataError(
                f"{where}: task.local.split_by.column {column!r} holds a {type(value).__name__}; it needs one value"
            )
        group = order.setdefault(value, len(order))
        if group >= first and (end is None or group < end):
            yield where, record


def split_columns(task: TaskConfig, split: str) -> Dict[str, str]:
    """Template field -> data column in `split`: task.columns with the split's task.split_columns."""
    return {**task.columns, **task.split_columns.get(split, {})}


def _as_declared(task: TaskConfig, columns: Dict[str, str], record: Dict[str, Any]) -> Dict[str, Any]:
    """A record whose split names columns otherwise, under the names task.columns gives them."""
    if columns == task.columns:
        return record
    return {**record, **{task.columns[f]: record[c] for f, c in columns.items()}}


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

    kind, columns = kind_of(task), split_columns(task, split)
    needed = {f"task.columns.{f}": c for f, c in columns.items()}
    check_columns(needed, [rename.get(c, c) for c in ds.column_names], where)
    rows = ({rename.get(k, k): v for k, v in row.items()} for row in ds)
    at = (f"{where}[{i}]" for i in range(len(ds)))
    examples = [kind.example(_as_declared(task, columns, paths_in.resolved(r, needed, w)), w) for w, r in zip(at, rows)]
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
