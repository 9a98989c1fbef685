"""The selection split carved out of the training data (task.validation_from_train), and the
training and selection examples kept apart from the reported ones.

The carve is a fixed function of the examples and its options (size, seed, whole_only, ignore),
never of the run's seed or method, so every run on a task selects on the same examples and
trains from the same pool without them. Stratified by label where every example has one: a carve
of a skewed task keeps its class mix. The validation set is content-disjoint from the pool: a
pool example with a text that contains, or is contained in, a validation text (normalised as
ptlab/data/overlap.py says) is dropped from the pool, so no selection example was trained on in
part (SST-2's train holds every phrase of a sentence as an example of its own). The pool, usually
far larger, gives up examples; the validation set keeps its size and stratification.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Generic, Iterable, List, Optional, Sequence, Tuple, TypeVar

from ptlab.run.cache_files import write_json_entry
from ptlab.data.overlap import normalise, overlapping, parts, word_counts
from ptlab.errors import DataError
from ptlab.config.task import CarvedValidation, TaskConfig

T = TypeVar("T")
Texts = Callable[[Any], List[str]]  # an example -> its texts, as read
CARVE_FORMAT = 1  # bump when the carve's rule changes, so no cache serves a carve of the old one
DROPPED = "pool_dropped_as_overlapping"


@dataclass
class Carve(Generic[T]):
    validation: List[T]  # in file order
    pool: List[T]  # the training pool, in file order
    stats: Dict[str, Any] = field(default_factory=dict)  # for results.json's `splits`


def texts_of(task: TaskConfig) -> Texts:
    """An example's texts, the ones overlap is checked on: its fields read from data columns
    (derived fields are functions of them) but those task.validation_from_train.ignore names as
    categories, and its answer choices (multiple choice)."""
    carved = task.validation_from_train
    skip = set(task.derived) | set(carved.ignore if carved else ())
    return lambda ex: [v for k, v in ex.fields.items() if k not in skip] + list(getattr(ex, "choices", None) or [])


def carve(
    examples: List[T], spec: CarvedValidation, where: str, texts: Texts, cache: Optional[Path] = None
) -> Carve[T]:
    """`spec.size` examples for validation and the pool: the rest less any that overlap them.
    Examples with the same inputs (SST-2's train repeats 371 sentences) go to one side together.
    With spec.whole_only the validation set is drawn among whole examples only: none of whose
    texts is a proper part of another training text (SST-2: sentences, not their phrases).
    Finding parts among SST-2's 67k texts takes seconds, so the carve is kept in `cache` (a dir),
    named by the digest of everything it depends on."""
    if spec.size >= len(examples):
        raise DataError(
            f"task.validation_from_train.size={spec.size} leaves no training examples: {where} has {len(examples)}"
        )

    def valid(entry: Dict[str, Any]) -> bool:
        rows = entry["validation"] + entry["dropped"]
        in_range = all(isinstance(i, int) and 0 <= i < len(examples) for i in rows)
        return in_range and len(set(rows)) == len(rows) and len(entry["dropped"]) == entry["stats"][DROPPED]

    material = [
        json.dumps([CARVE_FORMAT, dataclasses.asdict(spec)]),
        *(
            json.dumps([ex.fields, getattr(ex, "label", None), texts(ex)], sort_keys=True, default=str)
            for ex in examples
        ),
    ]
    entry = _cached(cache, material, lambda: _carve(examples, spec, where, texts), valid)
    chosen, dropped = set(entry["validation"]), set(entry["dropped"])
    validation = [ex for i, ex in enumerate(examples) if i in chosen]
    pool = [ex for i, ex in enumerate(examples) if i not in chosen and i not in dropped]
    return Carve(validation, pool, entry["stats"])


def _carve(examples: Sequence, spec: CarvedValidation, where: str, texts: Texts) -> Dict[str, Any]:
    """The carve's rows: validation, dropped from the pool as overlapping it, and its numbers."""
    normalised = [[normalise(t) for t in texts(ex)] for ex in examples]
    eligible = range(len(examples))
    if spec.whole_only:
        distinct = sorted({t for ts in normalised for t in ts})
        part_texts = {distinct[i] for i in parts(distinct)}
        eligible = [i for i, ts in enumerate(normalised) if not part_texts.intersection(ts)]
        if spec.size > len(eligible):
            raise DataError(
                f"task.validation_from_train.size={spec.size}: {where} has only {len(eligible)} whole examples "
                f"(whole_only: no text a part of another training text)"
            )
    chosen = _stratified(examples, eligible, spec.size, spec.seed)
    rest = [i for i in range(len(examples)) if i not in chosen]
    probes = [t for i in chosen for t in normalised[i]]
    dropped = {rest[j] for j in overlapping(probes, [normalised[i] for i in rest])}
    pool = [i for i in rest if i not in dropped]
    if not pool:
        raise DataError(f"task.validation_from_train: every training example of {where} overlaps the validation set")
    stats = {
        "content_disjoint": "enforced: pool examples overlapping a validation text are dropped",
        "drawn_from": f"{len(eligible)} whole of {len(examples)} examples" if spec.whole_only else "all examples",
        DROPPED: len(dropped),
        "residual_overlap": len(overlapping(probes, [normalised[i] for i in pool])),
    }
    return {"validation": sorted(chosen), "dropped": sorted(dropped), "stats": stats}


def _cached(
    cache: Optional[Path], material: Iterable[str], compute: Callable[[], Dict], valid: Callable[[Dict], bool]
) -> Dict[str, Any]:
    """`compute()`, kept as `<cache>/<digest of material>.json`; an entry that is unreadable, of
    another digest or not `valid` is computed again and replaced. A write that fails (a full
    disk) is one CacheError naming the entry, not a bare OSError."""
    digest = hashlib.sha256()
    for part in material:
        digest.update(part.encode() + b"\0")
    key = digest.hexdigest()
    path = cache / f"{key}.json" if cache else None
    if path and path.exists():
        try:
            entry = json.loads(path.read_text())
            if isinstance(entry, dict) and entry.get("key") == key and valid(entry):
                return entry
        except (OSError, ValueError, TypeError, AttributeError, KeyError):
            pass  # computed again below, and rewritten
    entry = {"key": key, **compute()}
    if path:
        write_json_entry("carve cache entry", path, entry)  # a failure: one error naming it, no temp file
    return entry


def _stratified(examples: Sequence, eligible: Sequence[int], size: int, seed: int) -> set:
    """`size` rows of `eligible`, drawn by units of equal inputs, each label's share of the
    eligible rows kept (to one example)."""
    units: Dict[str, List[int]] = defaultdict(list)  # the same inputs -> their rows
    for i in eligible:
        units[inputs(examples[i])].append(i)
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
    return chosen


def overlap_stats(
    loaded: Dict[str, List[Any]], texts: Texts, carved: Optional[Dict[str, Any]] = None, cache: Optional[Path] = None
) -> Dict[str, Any]:
    """How content-disjoint the selection split is from the training pool, for results.json: the
    carve's own numbers, or (a declared validation split, which ptlab does not alter) how many
    pool examples overlap it."""
    if carved or "validation" not in loaded or "train" not in loaded:
        return dict(carved or {})
    val, pool = ([texts(ex) for ex in loaded[s]] for s in ("validation", "train"))

    def measure() -> Dict[str, Any]:
        probes = [normalise(t) for ts in val for t in ts]
        return {"residual_overlap": len(overlapping(probes, [[normalise(t) for t in ts] for ts in pool]))}

    material = [json.dumps([CARVE_FORMAT, "declared", len(val)]), *map(json.dumps, val), *map(json.dumps, pool)]
    found = _cached(cache, material, measure, lambda entry: isinstance(entry.get("residual_overlap"), int))
    return {"content_disjoint": "measured only: a declared split", "residual_overlap": found["residual_overlap"]}


def words(splits: Dict[str, List[Any]], texts: Texts) -> Dict[str, Dict[str, float]]:
    """Words per example of the validation and test examples a run scores, to compare their
    lengths (SST-2: sentences on both sides, or phrases against sentences)."""
    return {s: word_counts([texts(ex) for ex in splits[s]]) for s in ("validation", "test") if s in splits}


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
