"""The local file formats a task YAML's `local.format` names: one module per format, found by discovery.

A format turns one file's text into records ({column: value}), each with where it came from
("path:LINE", or a JSON path for nested files), so every bad row is one DataError naming its
place. Formats are torch-free (validation reads the registry) and see the task's `local` block,
which holds their options (`names` for headerless or column-positional files, `pattern`, ...).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Tuple

from ptlab.plugins import discover, lookup

if TYPE_CHECKING:
    from ptlab.config.task import LocalSource

Record = Tuple[str, Dict[str, Any]]  # (where, {column: value})


class LocalFormat:
    """One file format. Subclasses set `name` and implement `records`."""

    name = ""  # the value of `local.format`
    uses: Tuple[str, ...] = ()  # the `local` options this format reads (others are a config error)

    def check(self, local: "LocalSource") -> None:
        """The format's own rules on its options (torch-free, before any file is read)."""

    def paths(self, folder: Path, name: str, local: "LocalSource") -> List[Path]:
        """The files one split's `local.files` entry names (a parallel pair names two)."""
        return [folder / name]

    def records(self, paths: List[Path], local: "LocalSource", columns: Dict[str, str]) -> Iterator[Record]:
        """Every record of the files, in order. `columns`: the data columns the task reads, by the
        config key that names each (a format with a header checks them there, once, at line 1)."""
        raise NotImplementedError


@cache
def registry() -> Dict[str, type]:
    return discover(__name__, __path__, LocalFormat)


def format_of(local: "LocalSource") -> LocalFormat:
    return lookup(registry(), local.format, "task.local.format")()


def split_paths(local: "LocalSource", folder: Path, split: str) -> List[Path]:
    """The files `split` reads in the task folder (a parallel pair: two)."""
    one = local.of(split)
    return format_of(one).paths(folder, one.files[split], one)


def check_local(local: "LocalSource") -> None:
    """Each split's format exists and takes every option set, in the block or in the split's own
    `files` entry (whose key the error then names); torch-free, called by validation."""
    from ptlab.errors import ConfigError

    for split, entry in local.files.items():
        try:
            _check_format(local.of(split), entry if isinstance(entry, dict) else {})
        except ConfigError as err:
            raise (ConfigError(f"task.local.files.{split}: {err}") if isinstance(entry, dict) else err) from None
    if not local.files:
        _check_format(local, {})


def _check_format(local: "LocalSource", entry: Dict[str, Any]) -> None:
    """The format exists and takes every option set (`entry`: what a split's files entry sets)."""
    from ptlab.config.task import FORMAT_OPTIONS
    from ptlab.errors import ConfigError

    if local.format is None:
        raise ConfigError("task.local.format is required (or a format in every task.local.files entry)")
    fmt = format_of(local)
    for key, unset in FORMAT_OPTIONS.items():
        if getattr(local, key) != unset and key not in fmt.uses:
            drop = "null" if unset is None else unset
            hint = "" if key in entry else f" (set {key}: {drop} in this split's entry to drop the task's)"
            raise ConfigError(
                f"task.local.{key} is not an option of format {local.format!r} (it reads {list(fmt.uses)}){hint}"
            )
    fmt.check(local)


def check_columns(columns: Dict[str, str], present: List[str], what: str) -> None:
    """A DataError naming `what` (a file's header, a record) unless it has every column of `columns`
    (config key -> data column, e.g. task.columns.text -> sentence), each named with its key. A
    column path (`question.stem`) needs its top-level column; ptlab/data/columns.py reads the rest."""
    from ptlab.data.columns import present as holds
    from ptlab.errors import DataError

    missing = [f"{c!r} ({key})" for key, c in columns.items() if not holds(c, present)]
    if missing:
        raise DataError(f"{what} has no column {', '.join(missing)}; columns present: {present}")


def read_utf8(path: Path) -> str:
    """The file's text; a byte that is not UTF-8 is a DataError naming its line."""
    from ptlab.errors import DataError

    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise DataError(
            f"{path}:{line}: not valid UTF-8 (byte 0x{data[err.start]:02x} at offset {err.start})"
        ) from None
    return text.removeprefix("\ufeff")
