"""conll: one token per line, whitespace-separated columns named by `local.names`, a blank line
between sentences (CoNLL-2003: `token POS chunk NER`). `-DOCSTART-` lines separate documents and
are skipped. One record per sentence, {column: [value per token]}, placed at its first line, so
a kind can name any token's line as the record's line plus the token's position.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterator, List

from ptlab.data.formats import LocalFormat, Record, check_columns, read_utf8
from ptlab.errors import ConfigError, DataError

DOCUMENT_START = "-DOCSTART-"


class Conll(LocalFormat):
    name = "conll"
    uses = ("names",)

    def check(self, local) -> None:
        if not local.names:
            raise ConfigError(
                "task.local.names is required for format conll: name its columns in order, "
                "e.g. [token, pos, chunk, ner]"
            )

    def records(self, paths: List[Path], local, columns: Dict[str, str]) -> Iterator[Record]:
        [path] = paths
        names = list(local.names)
        check_columns(columns, names, f"{path}: task.local.names")
        sentence: Dict[str, List[str]] = {}
        start = 0  # the line of the current sentence's first token
        for line, raw in enumerate(read_utf8(path).split("\n"), start=1):
            values = raw.split()
            if not values or values[0] == DOCUMENT_START:
                if sentence:
                    yield f"{path}:{start}", sentence
                sentence = {}
                continue
            if len(values) != len(names):
                raise DataError(
                    f"{path}:{line}: expected {len(names)} columns [{', '.join(names)}], found {len(values)}"
                )
            if not sentence:
                sentence, start = {name: [] for name in names}, line
            for name, value in zip(names, values):
                sentence[name].append(value)
        if sentence:
            yield f"{path}:{start}", sentence
