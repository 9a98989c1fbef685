"""lines: plain text, one record per line, cut into columns by a regex or a separator.

`local.pattern` is a regex whose named groups are the columns (TREC's `DESC:manner How did ...`
is `^(?P<label>[^:]+):(?P<fine>\\S+) (?P<text>.*)$`); or `local.separator` cuts each line at its
first len(names) - 1 occurrences into `local.names`. `local.skip_lines` skips the file's first lines
(a header). Blank lines are skipped; a line that does not fit is a DataError naming it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Iterator, List

from ptlab.data.formats import LocalFormat, Record, check_columns, read_utf8
from ptlab.errors import ConfigError, DataError


class Lines(LocalFormat):
    name = "lines"
    uses = ("names", "pattern", "separator", "skip_lines")

    def check(self, local) -> None:
        if not isinstance(local.skip_lines, int) or local.skip_lines < 0:
            raise ConfigError(f"task.local.skip_lines={local.skip_lines!r} must be a line count >= 0")
        if (local.pattern is None) == (local.separator is None):
            raise ConfigError("task.local.format=lines needs task.local.pattern or task.local.separator (one of them)")
        if local.pattern is not None:
            if local.names is not None:
                raise ConfigError("task.local.names: with task.local.pattern, its named groups are the columns")
            try:
                groups = list(re.compile(local.pattern).groupindex)
            except re.error as err:
                raise ConfigError(f"task.local.pattern is not a regex ({err})") from None
            if not groups:
                raise ConfigError("task.local.pattern has no named group (?P<column>...): it names no column")
        elif not local.names or not local.separator:
            raise ConfigError(
                "task.local.separator needs task.local.names (the columns, in line order) and a non-empty separator"
            )

    def records(self, paths: List[Path], local, columns: Dict[str, str]) -> Iterator[Record]:
        [path] = paths
        pattern = re.compile(local.pattern) if local.pattern else None
        names = list(pattern.groupindex) if pattern else list(local.names)
        check_columns(columns, names, f"{path}: task.local.{'pattern' if pattern else 'names'}")
        lines = read_utf8(path).split("\n")[local.skip_lines :]
        for line, raw in enumerate(lines, start=local.skip_lines + 1):
            raw = raw.removesuffix("\r")
            if not raw.strip():
                continue
            if pattern:
                match = pattern.fullmatch(raw)
                if match is None:
                    raise DataError(f"{path}:{line}: does not match task.local.pattern {local.pattern!r}: {raw[:80]!r}")
                yield f"{path}:{line}", match.groupdict()
                continue
            parts = raw.split(local.separator, len(names) - 1)
            if len(parts) != len(names):
                raise DataError(
                    f"{path}:{line}: expected {len(names)} fields {names} separated by "
                    f"{local.separator!r}, found {len(parts)}"
                )
            yield f"{path}:{line}", dict(zip(names, parts))
