"""Column paths: a `task.columns` value names a flat column (`sentence`) or a path into a nested
record, so nested JSON (AI2's ARC jsonl, a hub dataset's struct columns) is declared in YAML with
no flattening script.

A path is keys joined by dots; `key[]` applies the rest of the path to every item of a list (the
value is then a list: `question.choices[].text`), `key[N]` takes item N (`answers.text[0]`). A
record key equal to the whole spec wins, so a csv header `q.text` still names its column. A path
that does not fit a record is one DataError naming the record's place (file:line), the config key,
the path and the step where it broke.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, Dict, List, Optional, Tuple

from ptlab.errors import DataError

Step = Tuple[str, Any]  # ("key", name), ("each", None) or ("index", n)

PART = re.compile(r"([^.\[\]]+)((?:\[\d*\])*)")
BRACKET = re.compile(r"\[(\d*)\]")


@cache
def steps(spec: str) -> Optional[Tuple[Step, ...]]:
    """The steps of a path spec; None where `spec` is a plain column name (no `.` or `[`) or does
    not parse as a path (then it can only be a column name)."""
    if "." not in spec and "[" not in spec:
        return None
    out: List[Step] = []
    for part in spec.split("."):
        match = PART.fullmatch(part)
        if match is None:
            return None
        out.append(("key", match.group(1)))
        out += [("index", int(n)) if n else ("each", None) for n in BRACKET.findall(match.group(2))]
    return tuple(out)


def root(spec: str) -> str:
    """The top-level column a spec reads (a header or a hub dataset must have it)."""
    path = steps(spec)
    return path[0][1] if path else spec


def present(spec: str, columns: List[str]) -> bool:
    """Whether a record with these top-level `columns` can hold `spec`."""
    return spec in columns or root(spec) in columns


def resolved(record: Dict[str, Any], needed: Dict[str, str], where: str) -> Dict[str, Any]:
    """`record` with every path of `needed` (config key -> spec) that is not one of its own keys
    added under the spec, so a kind reads `record[spec]` either way."""
    missing = {key: spec for key, spec in needed.items() if spec not in record}
    if not missing:
        return record
    return {**record, **{spec: value(record, spec, key, where) for key, spec in missing.items()}}


def value(record: Dict[str, Any], spec: str, key: str, where: str) -> Any:
    """The value `spec` names in `record`; `key` is the config key that declared it."""
    if spec in record:
        return record[spec]
    path = steps(spec)
    if path is None:
        raise DataError(f"{where}: record has no column {spec!r} ({key}); columns present: {list(record)}")
    return _walk(record, path, f"{where}: {key}={spec!r}", "")


def _walk(node: Any, path: Tuple[Step, ...], said: str, done: str) -> Any:
    for i, (step, arg) in enumerate(path):
        here = done or "the record"
        if step == "key":
            if not isinstance(node, dict):
                raise DataError(f"{said}: {here} is {_kind(node)}, not an object with a key {arg!r}")
            if arg not in node:
                raise DataError(f"{said}: {here} has no key {arg!r}; its keys: {list(node)}")
            node, done = node[arg], f"{done}.{arg}" if done else arg
            continue
        if not isinstance(node, list):
            raise DataError(f"{said}: {here} is {_kind(node)}, not a list")
        if step == "each":
            return [_walk(item, path[i + 1 :], said, f"{done}[{j}]") for j, item in enumerate(node)]
        if arg >= len(node):
            raise DataError(f"{said}: {here} has {len(node)} items, no [{arg}]")
        node, done = node[arg], f"{done}[{arg}]"
    return node


def _kind(node: Any) -> str:
    if node is None:
        return "null"
    return {dict: "an object", list: "a list", str: "text"}.get(type(node), f"a {type(node).__name__}")
