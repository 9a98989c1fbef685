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
