"""The task-kind registry: a kind is one module in this package, holding everything the kind means.

A kind module defines a `TaskKind` subclass: its name (what a task YAML's `kind:` selects), its
YAML schema (a TaskConfig subclass), its metric specs, which model head each family uses, and
how an example is read, encoded, collated, trained on and evaluated. The core (DataModule, the
LightningModule, the train loop, the report) asks the kind and never branches on its name.

Kind modules import torch only inside their functions: validation reads every schema and metric
spec before any heavy import, so a bad config fails in well under a second.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from ptlab.config import Family
from ptlab.config_origin import origin
from ptlab.task_config import TaskConfig
from ptlab.errors import ConfigError, DataError
from ptlab.plugins import discover, lookup

if TYPE_CHECKING:
    from ptlab.data.sources import Example
    from ptlab.example_stats import Statistics


class Head(str, Enum):
    """The model head a family reads a task with; ptlab/models/loading.py maps it to an Auto class."""

    causal_lm = "causal_lm"
    seq2seq_lm = "seq2seq_lm"
    sequence_classification = "sequence_classification"
    token_classification = "token_classification"
    question_answering = "question_answering"  # start/end logits over the input (extractive QA)
    api_lm = "api_lm"  # an LM behind an HTTP API: scored and decoded remotely, nothing trains

    @property
    def is_lm(self) -> bool:
        return self in (Head.causal_lm, Head.seq2seq_lm, Head.api_lm)

    @property
    def trainable(self) -> bool:
        """Local weights that a method can wrap and train."""
        return self != Head.api_lm


LM_HEADS = {Family.causal: Head.causal_lm, Family.seq2seq: Head.seq2seq_lm, Family.api: Head.api_lm}


@dataclass(frozen=True)
class MetricSpec:
    """One metric a task may declare: how to build and feed it, and what its values mean."""

    name: str
    build: Callable[[TaskConfig], Any]  # a torchmetrics Metric (imported inside: torch-free here)
    update: Callable[[Any, Dict[str, Any]], None]  # feed one batch of the kind's scorer outputs
    higher_is_better: bool = True
    lm_only: bool = False  # needs an LM head (e.g. PMI scores answer text); skipped on other heads
    low: float = 0.0
    high: float = 1.0
    value: Callable[[Any], Any] = float  # the number from metric.compute() (or a dict of named numbers)

    @property
    def mode(self) -> str:
        """Lightning's ModelCheckpoint mode for this metric."""
        return "max" if self.higher_is_better else "min"


@dataclass(frozen=True)
class Constant:
    """A trivial baseline: `answer` (a class, a choice position, a text, a tag) given for every
    evaluated example, chosen as the most frequent of `total` gold answers (`count` of them), and the
    scorer outputs of that prediction, as `evaluate` returns them (ptlab/baselines.py scores them)."""

    answer: Any
    count: int
    total: int
    outputs: Dict[str, Any]


def most_frequent(values: List[Any]) -> Tuple[Any, int]:
    """The most frequent of `values` (hashable) and its count; a tie goes to the first seen."""
    from collections import Counter

    return Counter(values).most_common(1)[0]


class TaskKind:
    """What a kind of task means. Subclasses set the class attributes and override the hooks."""

    name = ""  # the value of `kind:` in a task YAML
    config: type = TaskConfig  # the task YAML's schema
    action = "do this task"  # what a model must do, for the error on a family with no head for it
    answer_columns: tuple = ()  # task.columns keys that hold the answer, not template fields
    metrics: Dict[str, MetricSpec] = {}
    reads_label_values = False  # whether `task.label_values` means anything to this kind
    # Bump when what encode() produces changes: it keys the tokenization cache (with the family's).
    encoding_version = 1

    def __init__(self, task: TaskConfig):
        self.task = task

    # --- validation (torch-free) ---
    def check(self) -> None:
        """The task config's own rules, beyond its schema's types."""
        task = self.task
        missing = [c for c in self.answer_columns if c not in task.columns]
        if missing:
            raise ConfigError(f"task {task.name}: a {self.name} task needs task.columns.{missing[0]}")
        unknown = [m for m in task.metrics if m not in self.metrics]
        if unknown:
            raise ConfigError(f"task.metrics: {unknown} unknown for a {self.name} task; known: {list(self.metrics)}")
        self._check_derived()
        if task.label_values is not None and not self.reads_label_values:
            raise ConfigError(f"task.label_values: a {self.name} task has no labels to map; remove it")
        _check_value_keys("task.label_values", task.label_values or {})
        _check_one_to_one(task.label_values or {})
        for name, spec in task.derived.items():
            _check_value_keys(f"task.derived.{name}.values", spec.get("values") or {})
        for name, template in task.templates.items() or [(None, task.selected)]:
            used = check_format(
                template.text, self.template_fields(), f"task.templates.{name}.text" if name else "task.template"
            )
            if task.truncate_field is not None and name in (None, task.template) and task.truncate_field not in used:
                raise ConfigError(
                    f"task.truncate_field={task.truncate_field!r} is not a field of the template "
                    f"task.template={task.template!r}: {sorted(used)}"
                )

    def _check_derived(self) -> None:
        """Each `task.derived` field reads a column field (not an answer) by a lookup table or an rstrip."""
        columns = [f for f in self.template_fields() if f in self.task.columns]
        for name, spec in self.task.derived.items():
            key = f"task.derived.{name}"
            if name in self.task.columns:
                raise ConfigError(f"{key}: {name!r} is already a field of task.columns; give it another name")
            if spec.get("from") not in columns:
                raise ConfigError(f"{key}.from={spec.get('from')!r} is not a template field of task.columns: {columns}")
            ways = [w for w in DERIVATIONS if w in spec]
            unknown = sorted(set(spec) - {"from", *DERIVATIONS})
            if len(ways) != 1 or unknown:
                raise ConfigError(f"{key} takes `from` and one of {list(DERIVATIONS)}; it has {sorted(spec)}")
            if not isinstance(spec.get("values", {}), dict) or not isinstance(spec.get("rstrip", ""), str):
                raise ConfigError(f"{key}: `values` is a mapping (field value -> text), `rstrip` a string")

    def head(self, family: Family) -> Optional[Head]:
        """The head `family` reads this task with; None: the family cannot do this kind."""
        return LM_HEADS.get(family)

    def for_head(self, head: Head) -> TaskConfig:
        """The task as a model with `head` reads it (a kind may frame one task per head, e.g. NER
        as an LM's generated text); validation gives the run this task."""
        return self.task

    def num_labels(self) -> Optional[int]:
        """Output size of a classification head (None: the head is an LM's)."""
        return None

    def label_words(self) -> Optional[List[str]]:
        """The classes' verbalizers, where the kind has classes (few-shot per class, prompt init)."""
        return None

    def template_fields(self) -> List[str]:
        return [f for f in self.task.columns if f not in self.answer_columns] + list(self.task.derived)

    # --- data (torch-free) ---
    def example(self, record: Dict[str, Any], where: str) -> "Example":
        raise NotImplementedError

    def fields(self, record: Dict[str, Any], where: str) -> Dict[str, str]:
        columns = self.task.columns
        read = {f: text(record[columns[f]], columns[f], where) for f in self.template_fields() if f in columns}
        return {**read, **{name: derive(name, spec, read, where) for name, spec in self.task.derived.items()}}

    def answer_text(self, ex: "Example") -> str:
        """The gold answer as the text that follows the prompt (an in-context demonstration's end)."""
        raise NotImplementedError

    def eval_examples(self, examples: List["Example"]) -> List["Example"]:
        """The evaluated items made from a split's examples (e.g. one per source, all references)."""
        return examples

    # --- model side (torch is imported by the caller already) ---
    def encode(self, reader, ex: "Example", train: bool) -> Dict[str, Any]:
        raise NotImplementedError

    def collate(self, reader, rows: List[Dict[str, Any]], train: bool) -> Dict[str, Any]:
        raise NotImplementedError

    def loss(self, reader, model, batch: Dict[str, Any]):
        raise NotImplementedError

    def metric_notes(self) -> Dict[str, str]:
        """What a metric's number needs said beside it (e.g. sacreBLEU's signature), for results.json."""
        return {}

    @classmethod
    def example_statistics(cls, metric: str, rows: List[Dict[str, Any]]) -> Optional["Statistics"]:
        """`metric` from the prediction rows (`evaluate`'s) as per-row statistics whose sums give it,
        for ptlab-report to recompute it on resamples of the examples; None: the rows cannot give it.
        Here a mean over examples, from each row's `example_scores`; a kind overrides it for the rest."""
        from ptlab.example_stats import mean_of

        scores = [(row.get("example_scores") or {}).get(metric) for row in rows]
        return mean_of(scores) if rows and all(isinstance(s, (int, float)) for s in scores) else None

    def constant(self, evaluated: List["Example"], source: List["Example"]) -> Optional[Constant]:
        """The trivial baseline of `evaluated`: the answer most frequent in `source`'s gold (the
        split itself, or the training examples) predicted for every example; None: the kind knows no
        constant answer (its runs get no baseline, only the check for collapsed predictions)."""
        return None

    def begin_evaluation(self) -> None:
        """Called before each evaluation pass (e.g. to recompute per-pass baselines)."""

    def evaluate(self, reader, model, batch: Dict[str, Any], decode) -> tuple:
        """(scorer outputs for the metrics' `update`, one prediction row per example)."""
        raise NotImplementedError


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


def _check_value_keys(key: str, mapping: Dict[Any, Any]) -> None:
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


def _check_one_to_one(values: Dict[Any, Any]) -> None:
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


@cache
def registry() -> Dict[str, type]:
    """Every task kind, by name: the TaskKind subclasses defined in this package's modules."""
    return discover(__name__, __path__, TaskKind)


def kind_class(name: str) -> type:
    return lookup(registry(), name, "task.kind")


def kind_of(task: TaskConfig) -> TaskKind:
    """The kind of `task`, holding it."""
    return kind_class(task.kind)(task)
