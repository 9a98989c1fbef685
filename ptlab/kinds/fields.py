"""What a kind reads from a record and a task YAML, checked the same way by every kind: text fields,
integer labels, label-value tables (their YAML types and one-to-one), format templates over the
fields, and derived template fields.
"""

from __future__ import annotations

import string
from typing import Any, Dict, List, Optional, Tuple

from ptlab.config.origin import origin
from ptlab.errors import ConfigError, DataError


def check_format(template: str, fields: List[str], key: str) -> set:
    """The fields `template` uses, where it is a str.format template over `fields` only and formats
    as a run will format it (an unmatched brace, a bad conversion or format spec fails here, not
    mid-run); else a ConfigError naming `key` and the file or command line that set it."""
    try:
        used = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
        unknown = sorted(used - set(fields))
        if not unknown:
            template.format(**{f: "" for f in fields})
    except ValueError as err:
        brace = "; write a literal brace as {{ or }}" if "{" in str(err) or "}" in str(err) else ""
        raise ConfigError(f"{key}{origin(key)} is not a format string ({err}){brace}") from None
    if unknown:
        raise ConfigError(f"{key}{origin(key)} uses {{{unknown[0]}}}, which is not a template field; fields: {fields}")
    return used


def text(value: Any, column: str, where: str) -> str:
    """A text field of a record: strings as they are, numbers as text, anything else an error."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise DataError(f"{where}: column {column!r} holds {value!r}, expected text")


def is_integer(value: Any) -> bool:
    """An int, or a string of digits (GLUE's tsv "0"/"1"), but not a bool."""
    if isinstance(value, str):
        return value.isascii() and value.isdigit()
    return isinstance(value, int) and not isinstance(value, bool)


# What a data value is, as `value_key` types it: (one, many), for messages.
VALUE_TYPES = {
    "bool": ("a truth value", "truth values (true/false)"),
    "number": ("a number", "numbers"),
    "text": ("text", "text"),
}


def value_key(value: Any) -> Optional[Tuple[str, Any]]:
    """A label value as `task.label_values` keys it, with its type: ("bool", b), ("number", n) or
    ("text", s); None for a list or null. A tsv's "1" is YAML's 1 and its "true" (any case) YAML's
    true, but a truth value is never a number: Python's True == 1 would read a JSON true through a
    {0: ..., 1: ...} map as 1, and every gold label of a boolean column would come out inverted."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    if not isinstance(value, str):
        return None
    if is_integer(value):
        return ("number", int(value))
    if value.lower() in ("true", "false"):
        return ("bool", value.lower() == "true")
    return ("text", value)


def type_mismatch(values: Optional[Dict[Any, Any]], value: Any) -> str:
    """Why `value` missed `task.label_values` where its type is not the keys' (a JSON true against
    {0: ..., 1: ...}): said in the error, never guessed across types."""
    key, kinds = value_key(value), {value_key(k)[0] for k in values or {}}
    if key is None or len(kinds) != 1 or key[0] in kinds:
        return ""
    [kind] = kinds
    return (
        f"; {value!r} is {VALUE_TYPES[key[0]][0]} and task.label_values is keyed by {VALUE_TYPES[kind][1]}, "
        f"which it never matches: key it by {VALUE_TYPES[key[0]][1]}"
    )


def check_value_keys(key: str, mapping: Dict[Any, Any]) -> None:
    """Keys of one type (a column holds one; mixed types cannot be sorted into the cache key) that
    stay distinct as data values read them: YAML's 1 and a quoted "1", or true and "True", would
    be one key, one entry silently lost."""
    seen: Dict[Any, Any] = {}
    for name in mapping:
        read = value_key(name)
        if read is None:
            raise ConfigError(f"{key}: key {name!r} is not a data value (text, a number or true/false)")
        if read in seen:
            raise ConfigError(
                f"{key}: keys {seen[read]!r} and {name!r} are one data value ({read[1]!r}); keep one of them"
            )
        seen[read] = name
    if len({read[0] for read in seen}) > 1:
        raise ConfigError(
            f"{key}: keys {list(mapping)} mix types (text, numbers, true/false), but a column holds one type"
        )


def check_one_to_one(values: Dict[Any, Any]) -> None:
    """One data value per label (or choice position): two would read one class as another, and the
    class they stand for would vanish from the data."""
    meant: Dict[Any, Any] = {}
    for key, label in values.items():
        if label in meant:
            raise ConfigError(
                f"task.label_values maps both {meant[label]!r} and {key!r} to {label!r}; it must be one-to-one "
                f"(one data value per label), or one class would read as another"
            )
        meant[label] = key


def check_label_values(values: Optional[Dict[Any, Any]], allowed: List[Any], what: str) -> None:
    """`task.label_values` maps every data value to one of `allowed` (the kind's label meaning)."""
    for key, label in (values or {}).items():
        if label not in allowed:
            raise ConfigError(f"task.label_values.{key}={label!r} is not {what}; one of {allowed}")
        shadowed = [a for a in allowed if isinstance(a, str) and value_key(a) == value_key(key) and a != label]
        if shadowed:  # a data value naming a label would silently mean another one
            raise ConfigError(
                f"task.label_values.{key}={label!r}: the data value {key!r} also names the label {shadowed[0]!r}; "
                f"it would mean two things"
            )


DERIVATIONS = ("values", "rstrip")  # how a `task.derived` field is computed from its `from` field


def derive(name: str, spec: Dict[str, Any], fields: Dict[str, str], where: str) -> str:
    """A derived template field's text: its `from` field looked up in `values` (keys compared as
    text: YAML may read them as numbers or booleans), or with the `rstrip` characters cut off its end."""
    source = fields[spec["from"]]
    if "rstrip" in spec:
        return source.rstrip(spec["rstrip"])
    table = {str(k).lower() if isinstance(k, bool) else str(k): v for k, v in spec["values"].items()}
    if source not in table:
        raise DataError(
            f"{where}: task.derived.{name}.values has no entry for {spec['from']}={source!r}; known: {list(table)}"
        )
    return str(table[source])
