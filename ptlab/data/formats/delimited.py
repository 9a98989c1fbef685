"""tsv and csv: a header line naming the columns, or (headerless) `local.names` naming them.

tsv takes quotes as plain text (GLUE's files hold raw quotes). csv is strict, so a quote left
open does not swallow the rest of the file into one field, and `"a"b` is not read as `ab`.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from ptlab.data.formats import LocalFormat, Record, check_columns, read_utf8
from ptlab.errors import DataError


class Tsv(LocalFormat):
    name = "tsv"
    uses = ("names",)
    dialect: Dict[str, Any] = {"delimiter": "\t", "quoting": csv.QUOTE_NONE}

    def records(self, paths: List[Path], local, columns: Dict[str, str]) -> Iterator[Record]:
        [path] = paths
        yield from _rows(path, read_utf8(path), local.names, columns, self.dialect)


class Csv(Tsv):
    name = "csv"
    dialect = {"strict": True}


def _rows(
    path: Path, text: str, names: Optional[List[str]], columns: Dict[str, str], fmt: Dict[str, Any]
) -> Iterator[Record]:
    """(where, {column: value}) for each data row; `where` is the row's first line (a quoted csv
    field may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""), **fmt)
    header: Optional[List[str]] = list(names) if names else None
    if names:
        check_columns(columns, header, f"{path}: task.local.names")
    end = 0  # last physical line consumed
    try:
        for row in reader:
            line, end = end + 1, reader.line_num
            if not row:  # blank line
                continue
            if header is None:
                header = [name.strip() for name in row]
                check_columns(columns, header, f"{path}:{line}: header")
                continue
            if len(row) != len(header):
                raise DataError(f"{path}:{line}: expected {len(header)} fields {header}, found {len(row)}")
            yield f"{path}:{line}", dict(zip(header, row))
    except csv.Error as err:
        failed = reader.line_num
        opened = _quote_opened(text, end + 1, failed, fmt)
        if str(err) == "unexpected end of data":  # the parser reached the end inside quotes
            raise DataError(
                f"{path}:{opened}: a quoted field opened on this line is never closed (it runs to "
                f'the end of the file, line {failed}); close it with a " and write a quote inside a field as ""'
            ) from None
        if opened < failed:  # the error is where the quote closed, lines after the one to fix
            raise DataError(
                f"{path}:{opened}: malformed row: the quoted field opened on this line runs on to line {failed}, "
                f'where {err}; close it with a " and write a quote inside a field as ""'
            ) from None
        raise DataError(f"{path}:{failed}: malformed row ({err})") from None


def _quote_opened(text: str, row_line: int, failed_line: int, fmt: Dict[str, Any]) -> int:
    """The line where the field the parser failed in opened: the last field of the row (lines
    `row_line`..`failed_line`, read leniently) that started before `failed_line` and spans to it,
    else `failed_line` itself."""
    lines = io.StringIO(text, newline="").readlines()[row_line - 1 : failed_line]
    row = next(csv.reader(io.StringIO("".join(lines), newline=""), **{**fmt, "strict": False}), [])
    opened, start = failed_line, row_line
    for field in row:
        end = start + field.count("\n") + field.count("\r") - field.count("\r\n")
        if start < failed_line <= end:
            opened = start
        start = end
    return opened
