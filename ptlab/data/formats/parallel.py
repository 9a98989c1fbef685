"""parallel: line-aligned plain text, one file per side (Moses style: newstest2016.en / .ro).

`local.files` names the pair's common stem and `local.names` the suffixes, which are also the
columns: files `newstest2016` with names [en, ro] read newstest2016.en and newstest2016.ro, and
line i of one is the translation of line i of the other. Files of unequal length, or a line empty
on one side only, are a DataError naming the file and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterator, List

from ptlab.data.formats import LocalFormat, Record, check_columns, read_utf8
from ptlab.errors import ConfigError, DataError


class Parallel(LocalFormat):
    name = "parallel"
    uses = ("names",)

    def check(self, local) -> None:
        if not local.names or len(local.names) < 2:
            raise ConfigError("task.local.names: a parallel format needs the suffix of each side, e.g. [en, ro]")

    def paths(self, folder: Path, name: str, local) -> List[Path]:
        return [folder / f"{name}.{side}" for side in local.names]

    def records(self, paths: List[Path], local, columns: Dict[str, str]) -> Iterator[Record]:
        check_columns(columns, list(local.names), f"{paths[0].parent}/{paths[0].stem}: task.local.names")
        sides = [read_utf8(path).removesuffix("\n").split("\n") for path in paths]
        counts = [len(lines) for lines in sides]
        if len(set(counts)) > 1:
            short = counts.index(min(counts))
            raise DataError(
                f"{paths[short]}:{counts[short] + 1}: the file ends here, but {paths[counts.index(max(counts))]} "
                f"has {max(counts)} lines; a parallel pair must be line-aligned"
            )
        for line, texts in enumerate(zip(*sides), start=1):
            texts = [t.removesuffix("\r") for t in texts]
            empty = [paths[i] for i, t in enumerate(texts) if not t.strip()]
            if len(empty) == len(texts):
                continue
            if empty:
                raise DataError(f"{empty[0]}:{line}: empty line, but its translation in the other file is not")
            yield f"{paths[0]}:{line}", dict(zip(local.names, texts))
