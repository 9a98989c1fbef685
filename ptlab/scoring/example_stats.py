"""A metric as sums of per-example statistics, so that it can be recomputed on any resample of the
examples: what ptlab-report's bootstrap needs for a corpus metric (Koehn 2004), whose value is not
a mean of per-example values (BLEU, chrF, entity F1, macro F1) but a function of counts summed
over the corpus. A mean over examples is the simplest case: (score, 1) per example.

A kind turns its prediction rows into `Statistics` (`TaskKind.example_statistics`); this module
holds the shapes the kinds share. numpy only: kinds import it inside their methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np


@dataclass(frozen=True)
class Statistics:
    """`per_row`: (examples, k) statistics; `value`: (m, k) sums over any multiset of rows -> (m,)
    metric values, the corpus metric recomputed on each (vectorised where the formula allows)."""

    per_row: np.ndarray
    value: Callable[[np.ndarray], np.ndarray]


def ratio(numerator: Sequence[float], denominator: Sequence[float]) -> Statistics:
    """sum(numerator) / sum(denominator), e.g. correct words / words; 0 for no denominator."""
    per_row = np.column_stack([np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)])
    return Statistics(
        per_row, lambda sums: np.divide(sums[:, 0], sums[:, 1], out=np.zeros(len(sums)), where=sums[:, 1] > 0)
    )


def mean_of(scores: Sequence[float]) -> Statistics:
    """A mean over examples: each example's score over a count of 1."""
    return ratio(scores, np.ones(len(scores)))


def precision_recall_f1(counts: np.ndarray, part: int) -> Statistics:
    """Micro precision (part 0), recall (1) or F1 (2) from per-example (hits, predicted, gold) counts."""
    scores = (
        lambda h, p, g: np.divide(h, p, out=np.zeros(len(h)), where=p > 0),
        lambda h, p, g: np.divide(h, g, out=np.zeros(len(h)), where=g > 0),
        f1,
    )[part]
    return Statistics(np.asarray(counts, dtype=float), lambda sums: scores(sums[:, 0], sums[:, 1], sums[:, 2]))


def f1(hits: np.ndarray, predicted: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """F1 from counts, 2 hits / (predicted + gold); 0 where there is neither (seqeval's zero_division=0)."""
    total = predicted + gold
    return np.divide(2 * hits, total, out=np.zeros(np.shape(total)), where=total > 0)


def macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> Statistics:
    """Macro F1 over the classes: per class and example, (hit, predicted, gold) indicators. A class
    neither gold nor predicted in a resample is left out of its average, as torchmetrics'
    MulticlassF1Score(average="macro") leaves out a class with no true or false positive or negative."""
    classes = sorted(set(gold) | set(predicted))
    g = np.array([[label == c for c in classes] for label in gold], dtype=float)
    p = np.array([[label == c for c in classes] for label in predicted], dtype=float)
    k = len(classes)

    def value(sums: np.ndarray) -> np.ndarray:
        hits, pred, true = sums[:, :k], sums[:, k : 2 * k], sums[:, 2 * k :]
        present = (pred + true) > 0
        return (f1(hits, pred, true) * present).sum(1) / np.maximum(present.sum(1), 1)

    return Statistics(np.hstack([g * p, p, g]), value)


def per_sum(per_row: np.ndarray, score: Callable[[Sequence[float]], float]) -> Statistics:
    """A metric that a library computes from summed counts, called once per resample (sacreBLEU's
    score from its sufficient statistics): slower than a formula, but the library's own number."""

    def value(sums: np.ndarray) -> np.ndarray:
        return np.array([score(row) for row in sums])

    return Statistics(np.asarray(per_row, dtype=float), value)
