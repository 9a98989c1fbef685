"""The selection split carved out of the training data (task.validation_from_train), and the
training and selection examples kept apart from the reported ones.

The carve is a fixed function of the examples, the size and its own seed, never of the run's seed or method, so
every run on a task selects on the same examples and trains from the same pool without them.
Stratified by label where every example has one: a carve of a skewed task keeps its class mix.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from typing import Any, Dict, List, Tuple, TypeVar

from ptlab.errors import DataError

T = TypeVar("T")


def carve(examples: List[T], size: int, seed: int, where: str) -> Tuple[List[T], List[T]]:
    """(validation, training pool): `size` examples and the rest, each in file order. Examples with
    the same inputs (SST-2's train repeats 371 sentences) go to one side together, or the pool
    would hold copies of validation examples."""
    if size >= len(examples):
        raise DataError(
            f"task.validation_from_train.size={size} leaves no training examples: {where} has {len(examples)}"
        )
    units: Dict[str, List[int]] = defaultdict(list)  # the same inputs -> their rows
    for i, ex in enumerate(examples):
        units[inputs(ex)].append(i)
    rng = random.Random(f"carve:{seed}")
    by_label: Dict[Any, List[List[int]]] = defaultdict(list)
    labelled = all(getattr(ex, "label", None) is not None for ex in examples)
    for rows in units.values():
        by_label[examples[rows[0]].label if labelled else None].append(rows)
    counts = {label: sum(map(len, group)) for label, group in by_label.items()}
    chosen = set()
    for label, quota in _quotas(dict(sorted(counts.items(), key=lambda kv: str(kv[0]))), size).items():
        group = by_label[label]
        rng.shuffle(group)
        taken = 0
        for rows in group:
            if taken + len(rows) <= quota:
                chosen.update(rows)
                taken += len(rows)
    validation = [ex for i, ex in enumerate(examples) if i in chosen]
    pool = [ex for i, ex in enumerate(examples) if i not in chosen]
    return validation, pool


def inputs(ex) -> str:
    """What a model sees of an example (its template fields), as a key: two examples with the
    same key are the same question, whatever their answers."""
    return json.dumps(ex.fields, sort_keys=True, default=str)


def without(examples: List[T], reported: List[T]) -> Tuple[List[T], int]:
    """`examples` less those whose inputs are also in the reported split, and how many that was:
    a dataset whose splits overlap (AESLC's test repeats 208 dev emails) must not train or select
    on the examples it reports."""
    seen = {inputs(ex) for ex in reported}
    kept = [ex for ex in examples if inputs(ex) not in seen]
    return kept, len(examples) - len(kept)


def _quotas(counts: Dict[Any, int], size: int) -> Dict[Any, int]:
    """Per label, its share of `size` in proportion to its count (largest remainder, so the shares
    sum to `size` exactly; ties go to the label first in sorted order)."""
    total = sum(counts.values())
    exact = {label: size * n / total for label, n in counts.items()}
    quotas = {label: int(share) for label, share in exact.items()}
    by_remainder = sorted(counts, key=lambda label: -(exact[label] - quotas[label]))
    for label in by_remainder[: size - sum(quotas.values())]:
        quotas[label] += 1
    return quotas
