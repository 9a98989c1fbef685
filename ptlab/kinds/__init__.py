"""The task-kind registry: a kind is one module in this package, holding everything the kind means.

A kind module defines a `TaskKind` subclass: its name (what a task YAML's `kind:` selects), its
YAML schema (a TaskConfig subclass), its metric specs, which model head each family uses, and
how an example is read, encoded, collated, trained on and evaluated. The core (DataModule, the
LightningModule, the train loop, the report) asks the kind and never branches on its name.

Kind modules import torch only inside their functions: validation reads every schema and metric
spec before any heavy import, so a bad config fails in well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from ptlab.config.schema import Family
from ptlab.config.task import TaskConfig
from ptlab.errors import ConfigError
from ptlab.kinds.fields import DERIVATIONS, check_format, check_one_to_one, check_value_keys, derive, text
from ptlab.plugins import discover, lookup

if TYPE_CHECKING:
    from ptlab.data.example import Example
    from ptlab.scoring.example_stats import Statistics


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
    scorer outputs of that prediction, as `evaluate` returns them (ptlab/scoring/baselines.py scores them)."""

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
        check_value_keys("task.label_values", task.label_values or {})
        check_one_to_one(task.label_values or {})
        for name, spec in task.derived.items():
            check_value_keys(f"task.derived.{name}.values", spec.get("values") or {})
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
        from ptlab.scoring.example_stats import mean_of

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


@cache
def registry() -> Dict[str, type]:
    """Every task kind, by name: the TaskKind subclasses defined in this package's modules."""
    return discover(__name__, __path__, TaskKind)


def kind_class(name: str) -> type:
    return lookup(registry(), name, "task.kind")


def kind_of(task: TaskConfig) -> TaskKind:
    """The kind of `task`, holding it."""
    return kind_class(task.kind)(task)
