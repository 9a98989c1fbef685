"""MkDocs hook: the reference pages are generated from the code at build time, never kept by hand.

A page holds a marker (`<!-- ptlab:NAME -->`) where a table goes:
- `groups`: each config group (a folder of conf/ or experiments/experiment/) and its options, from the files;
- `keys`: every key of the run schema (ptlab/config/schema.py's RunConfig) with its type and default;
- `methods` / `kinds`: each registered method / task kind, what its class says of itself, and the
  keys it adds to its group's shared schema.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import typing
from pathlib import Path
from typing import Any, Iterator, List, Tuple

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"<!-- ptlab:([a-z-]+) -->")
GROUPS = {
    "model": "conf/model",
    "method": "conf/method",
    "task": "conf/task",
    "trainer": "conf/trainer",
    "logger": "conf/logger",
    "callbacks": "conf/callbacks",
    "paths": "conf/paths",
    "debug": "conf/debug",
    "hparams_search": "conf/hparams_search",
    "hydra/launcher": "conf/hydra/launcher",
    "experiment": "experiments/experiment",
}


def on_page_markdown(markdown: str, **_: Any) -> str:
    return MARKER.sub(lambda m: TABLES[m.group(1)](), markdown)


def _table(header: Tuple[str, ...], rows: List[Tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows])


def _first_comment(path: Path) -> str:
    """The first sentence of a config file's opening comment: what the option is, in its author's words."""
    said = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# @package"):
            continue
        if not line.startswith("#"):
            break
        said.append(line.lstrip("#").strip())
    text = " ".join(said)
    end = re.search(r"\.(\s|$)", text)
    text = text[: end.start() + 1] if end else text
    return text if len(text) <= 200 else text[:200].rsplit(" ", 1)[0] + " …"


def groups() -> str:
    rows = []
    for group, folder in GROUPS.items():
        for path in sorted((ROOT / folder).glob("*.yaml")):
            rows.append((f"`{group}`", f"`{path.stem}`", _first_comment(path)))
    return _table(("group", "option", "what it is (the file's first comment)"), rows)


def _type_name(hint: Any) -> str:
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return " | ".join(f"`{m.value}`" for m in hint)
    if isinstance(hint, type):
        return hint.__name__
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        return _type_name(args[0]) + (" or null" if len(args) == 1 else "")
    name = getattr(origin, "__name__", str(origin))
    return f"{name}[{', '.join(_type_name(a) for a in args)}]" if args else name


def _default(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default.value if isinstance(field.default, enum.Enum) else field.default
        return f"`{value!r}`"
    if field.default_factory is not dataclasses.MISSING:
        made = field.default_factory()
        return "" if dataclasses.is_dataclass(made) else f"`{made!r}`"
    return "required"


def _fields(schema: type, prefix: str, skip: Tuple[str, ...] = ()) -> Iterator[Tuple[str, str, str]]:
    hints = typing.get_type_hints(schema)
    for field in dataclasses.fields(schema):
        if field.name.startswith("_") or field.name in skip:
            continue
        hint = hints[field.name]
        nested = next((t for t in typing.get_args(hint) or (hint,) if dataclasses.is_dataclass(t)), None)
        if nested is not None:
            yield from _fields(nested, f"{prefix}{field.name}.")
        else:
            yield f"`{prefix}{field.name}`", _type_name(hint), _default(field)


def keys() -> str:
    from ptlab.config.schema import RunConfig

    rows = list(_fields(RunConfig, ""))
    rows = [r for r in rows if r[0] != "`trainer`"] + [("`trainer.*`", "any `lightning.Trainer` argument", "")]
    return _table(("key", "type", "default"), rows)


def _own_keys(schema: type, base: type, group: str) -> str:
    """The keys `schema` adds to its group's shared `base`, each with its type and default."""
    shared = tuple(f.name for f in dataclasses.fields(base))
    own = [f"{key} ({kind}, {default})" for key, kind, default in _fields(schema, f"{group}.", skip=shared)]
    return "; ".join(own) or "none"


def methods() -> str:
    from ptlab.config.method import MethodConfig
    from ptlab.methods import registry

    rows = [
        (
            f"`{name}`",
            "yes" if cls.trains else "no",
            "peft" if cls.peft else "ptlab",
            "yes" if cls.shardable else "no",
            cls.no_activation_checkpointing or "yes",
            _own_keys(cls.config, MethodConfig, "method"),
        )
        for name, cls in sorted(registry().items())
    ]
    header = ("method", "trains", "built on", "trainer=fsdp", "activation checkpointing", "keys of its own")
    return _table(header, rows)


def kinds() -> str:
    from ptlab.kinds import registry
    from ptlab.config.task import TaskConfig

    rows = [
        (f"`{name}`", ", ".join(f"`{m}`" for m in cls.metrics), _own_keys(cls.config, TaskConfig, "task"))
        for name, cls in sorted(registry().items())
    ]
    return _table(("kind", "metrics", "task keys of its own"), rows)


TABLES = {"groups": groups, "keys": keys, "methods": methods, "kinds": kinds}
