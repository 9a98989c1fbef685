"""The schema of a task YAML (conf/task/): what every kind shares, and where its data comes from.

A kind's module (ptlab/kinds/) extends TaskConfig with its own fields; ptlab/config/validation.py merges
the YAML onto the kind's schema and runs each part's `check` before anything loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Dict, List, Optional

from ptlab.errors import ConfigError, did_you_mean, positive


@dataclass
class HubSource:
    path: str
    name: Optional[str] = None
    revision: Optional[str] = None  # e.g. refs/convert/parquet for script-only hub repos
    splits: Dict[str, str] = field(default_factory=dict)  # ptlab split -> hub split
    rename: Dict[str, str] = field(default_factory=dict)  # hub column -> the local files' column


@dataclass
class SplitBy:
    """Splits carved from one file by groups (e.g. SQuAD articles), so no group is in two splits."""

    column: str  # the data column whose distinct values, in file order, are the groups
    groups: Dict[str, List[Optional[int]]] = field(default_factory=dict)  # split -> [first, end) (end null: all)

    def check(self, files: Dict[str, str]) -> None:
        spans = {}
        for split, span in self.groups.items():
            if split not in files:
                raise ConfigError(
                    f"task.local.split_by.groups.{split}: no such split in task.local.files {list(files)}"
                )
            if len(span) != 2 or span[0] is None or span[0] < 0 or (span[1] is not None and span[1] <= span[0]):
                raise ConfigError(
                    f"task.local.split_by.groups.{split}={span} must be [first, end) with 0 <= first < end"
                )
            spans[split] = (span[0], float("inf") if span[1] is None else span[1])
        for split, name in files.items():
            sharing = [s for s, n in files.items() if n == name and s != split]
            if sharing and split not in spans:
                raise ConfigError(
                    f"task.local.files: {split} and {sharing[0]} read {name}; give each its groups in "
                    f"task.local.split_by.groups, or one would hold the other's examples"
                )
        for split, (a, b) in spans.items():
            for other, (c, d) in spans.items():
                if other != split and files[other] == files[split] and a < d and c < b:
                    raise ConfigError(
                        f"task.local.split_by.groups: {split} {self.groups[split]} and {other} "
                        f"{self.groups[other]} overlap; a group must be in one split only"
                    )


# A format's options in `local` (or in one split's `files` entry), with their unset values.
FORMAT_OPTIONS = {"names": None, "pattern": None, "separator": None, "skip_lines": 0}
SPLIT_KEYS = ["file", "format", *FORMAT_OPTIONS]  # what a split's `files` entry may set


@dataclass
class LocalSource:
    dir: str  # relative to the data directory
    format: Optional[str] = None  # a format in ptlab/data/formats/ (tsv, csv, jsonl, lines, conll, squad, parallel)
    # ptlab split -> file name, or {file: name, format: ..., names: ...}: a split whose file has its own
    # format or options (a headerless tsv for train, a csv with a header for test); what it sets
    # replaces the block's value (names: null drops the block's names).
    files: Dict[str, Any] = field(default_factory=dict)
    # Column names of a headerless file (tsv/csv/lines with a separator), of a CoNLL file's columns,
    # or (parallel) the file suffixes, one column per side.
    names: Optional[List[str]] = None
    pattern: Optional[str] = None  # lines: a regex whose named groups are the columns
    separator: Optional[str] = None  # lines: split each line into `names` at the first len(names)-1
    skip_lines: int = 0  # lines: leading lines that are not records (a header)
    split_by: Optional[SplitBy] = None  # carve splits from one file by groups of a column

    def file(self, split: str) -> str:
        """The file name `split` reads."""
        entry = self.files[split]
        return entry["file"] if isinstance(entry, dict) else entry

    def of(self, split: str) -> "LocalSource":
        """`split`'s own source: the block with the format and options its `files` entry sets."""
        entry = self.files[split]
        own = {k: v for k, v in entry.items() if k != "file"} if isinstance(entry, dict) else {}
        return replace(self, files={split: self.file(split)}, **own)

    def check(self) -> None:
        for split, entry in self.files.items():
            key = f"task.local.files.{split}"
            if isinstance(entry, dict):
                unknown = [k for k in entry if k not in SPLIT_KEYS]
                if unknown:
                    raise ConfigError(
                        f"unknown key {key}.{unknown[0]}{did_you_mean(unknown[0], SPLIT_KEYS, f'{key}.')}"
                    )
                if not isinstance(entry.get("file"), str):
                    raise ConfigError(f"{key} needs file: <the split's file name> beside its format and options")
            elif not isinstance(entry, str):
                raise ConfigError(f"{key}={entry!r}: a file name, or {{file: <name>, format: <format>, ...}}")
        files = {split: self.file(split) for split in self.files}
        if self.split_by is not None:
            self.split_by.check(files)
        elif len(set(files.values())) < len(files):
            SplitBy("", {}).check(files)  # two splits, one file: an error naming them


@dataclass
class CarvedValidation:
    """The selection split, carved from the training data: the same examples for every method and
    seed (its own seed), stratified by label where examples have one, never in the training pool.
    Then the official dev set can be the reported `test` split (GLUE/SuperGLUE hide test labels)."""

    size: int
    seed: int = 1234
    # Draw only whole examples, none of whose texts is a part of another training text, so the
    # selection split looks like a test of whole items (SST-2's train holds every phrase of its
    # sentences, its dev set only sentences). Any carve is content-disjoint: ptlab/data/carve.py.
    whole_only: bool = False
    # Template fields that are categories, not text (COPA's question: cause/effect), left out of
    # the overlap check, where every example's "cause" would contain every other's.
    ignore: List[str] = field(default_factory=list)

    def check(self, columns: Dict[str, str]) -> None:
        positive("task.validation_from_train.size", self.size)
        for name in self.ignore:
            if name not in columns:
                raise ConfigError(f"task.validation_from_train.ignore: {name!r} is not a key of task.columns")

    def describe(self) -> str:
        drawn = "whole examples" if self.whole_only else "examples"
        return f"{self.size} {drawn} carved from train (seed {self.seed}; stratified by label where there is one)"


@dataclass
class TemplateConfig:
    """One named prompt: its text, and (classification) verbalizers of its own."""

    text: str  # str.format template over the task's template fields
    labels: Optional[Dict[str, str]] = None  # label name -> verbalizer; null: the task's labels


@dataclass
class TaskConfig:
    """A task is data + prompt + scorer; all methods on it share every field here.

    The fields every kind has; a kind's module (ptlab/kinds/) extends this with its own
    (classification: `labels`; generation: `group_by`) and checks them.
    """

    name: str
    kind: str  # a task kind in ptlab/kinds/ (classification, generation)
    # The prompt: a name from `templates`, or (a task without templates) the template text itself,
    # a str.format template over the `columns` fields, e.g. "Review: {text}\nSentiment:".
    template: str
    columns: Dict[str, str]  # template field (or the kind's answer column) -> data column
    metrics: List[str]
    main_metric: str
    hub: Optional[HubSource] = None
    local: Optional[LocalSource] = None
    templates: Dict[str, TemplateConfig] = field(default_factory=dict)  # name -> prompt; task.template picks
    max_source_length: int = 256
    max_target_length: int = 64
    # The template field cut (from its end) when a prompt is longer than max_source_length, so the
    # rest (a question, the answer cue) stays whole; None: the family's side is cut (LM: the start).
    truncate_field: Optional[str] = None
    # What the answer column's values mean, where they are not the kind's own names: data value ->
    # label name (classification) or choice position (multiple choice). Keys may be strings,
    # integers or booleans (YAML true/false); integer labels without this are refused as ambiguous.
    label_values: Optional[Dict[Any, Any]] = None
    # Template fields computed from another field by a lookup, e.g. COPA's connective:
    # {connective: {from: question, values: {cause: because, effect: therefore}}}.
    derived: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    # Per split, the data columns that differ from `columns` (a dev file naming its label column
    # otherwise): {validation: {label: gold}}.
    split_columns: Dict[str, Dict[str, str]] = field(default_factory=dict)
    # The selection split carved from train (best checkpoint, early stopping, tuning choose on it),
    # so that the declared `test` split is only ever reported.
    validation_from_train: Optional[CarvedValidation] = None
    # The schema of one template: a kind may extend it (multiple choice: how its choices are framed).
    template_type: ClassVar[type] = TemplateConfig

    @property
    def selected(self) -> TemplateConfig:
        """The template every method on this run uses."""
        return self.templates[self.template] if self.templates else self.template_type(self.template)

    def check(self) -> None:
        if self.hub is None and self.local is None:
            raise ConfigError(f"task {self.name}: declare task.hub or task.local (or both)")
        if self.local is not None:
            self.local.check()
        if self.templates and self.template not in self.templates:
            raise ConfigError(
                f"task.template={self.template!r} is not one of task {self.name}'s templates"
                f"{did_you_mean(self.template, self.templates, 'task.template=')}"
            )
        if self.main_metric not in self.metrics:
            raise ConfigError(f"task.main_metric={self.main_metric!r} is not among task.metrics={self.metrics}")
        splits = list(self.local.files if self.local else {}) + list(self.hub.splits if self.hub else {})
        if self.validation_from_train is not None:
            self.validation_from_train.check(self.columns)
            if "validation" in splits:
                raise ConfigError(
                    f"task {self.name}: task.validation_from_train carves the validation split from train, "
                    f"and the task also declares a validation split (task.local.files / task.hub.splits); keep one"
                )
            if "train" not in splits:
                raise ConfigError(f"task {self.name}: task.validation_from_train needs a declared train split")
            splits.append("validation")
        for split, columns in self.split_columns.items():
            if split not in splits:
                raise ConfigError(
                    f"task.split_columns.{split}: task {self.name} declares no split {split!r}; splits: {splits}"
                )
            unknown = [f for f in columns if f not in self.columns]
            if unknown:
                raise ConfigError(
                    f"task.split_columns.{split}.{unknown[0]} is not a key of task.columns {list(self.columns)}"
                )
        positive("task.max_source_length", self.max_source_length)
        positive("task.max_target_length", self.max_target_length)
