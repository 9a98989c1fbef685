"""One example as read from a task's data, the same record for every kind: the fields its template
fills and whichever answer its kind reads. Kinds build and read it; the data layer only passes it on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional


@dataclass
class Example:
    fields: Dict[str, str]  # template field -> text (every task.columns key but the kind's answer columns)
    label: Optional[int] = None  # classification: class index into list(task.labels)
    target: Optional[str] = None  # generation: the reference text
    where: str = ""  # "path/to/file:LINE" or "hub:<path>/<split>[i]", for error messages
    references: Optional[List[str]] = None  # generation eval: every reference of this source
    choices: Optional[List[str]] = None  # multiple choice: this example's candidate answers
    choice_labels: Optional[List[str]] = None  # multiple choice: the label each choice is listed and scored under
    tokens: Optional[List[str]] = None  # token classification: the words
    tags: Optional[List[int]] = None  # token classification: one tag index per word
    starts: Optional[List[int]] = None  # span extraction: each reference's character offset in the context
