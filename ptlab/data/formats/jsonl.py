"""jsonl: one JSON object per line (blank lines skipped). Its columns may be nested: a record's
columns and paths are read by ptlab/data/columns.py, which names the line of one that lacks a column."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Iterator, List

from ptlab.data.formats import LocalFormat, Record, read_utf8
from ptlab.errors import DataError


class Jsonl(LocalFormat):
    name = "jsonl"

    def records(self, paths: List[Path], local, columns: Dict[str, str]) -> Iterator[Record]:
        [path] = paths
        # split on "\n" only: str.splitlines would also break at U+2028 etc. inside JSON strings
        for line, raw in enumerate(read_utf8(path).split("\n"), start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{line}: not valid JSON ({err.msg} at column {err.colno})") from None
            if not isinstance(record, dict):
                raise DataError(f"{path}:{line}: expected a JSON object, got {type(record).__name__}")
            yield f"{path}:{line}", record
