"""seqeval's entity scores of IOB2 tag sequences, as torchmetrics, for the token_classification kind.

Every head's predictions end as tag sequences (an encoder's per-word argmax, an LM's parsed text),
so both are scored here by one metric: strict IOB2, entity-level micro precision/recall/F1, F1 per
type and token accuracy, computed by seqeval from every word's gold and predicted tag index and each
sentence's length (concatenated across DDP ranks). The LM framing adds counts of its unparseable output.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Callable, Dict, List, Optional

from ptlab.config.task import TaskConfig
from ptlab.kinds import MetricSpec

OUTSIDE = "O"


def entity_types(tags: List[str]) -> List[str]:
    """The entity types of an IOB2 tag set, in the order they first appear."""
    return list(dict.fromkeys(t[2:] for t in tags if t != OUTSIDE))


Sentences = List[List[str]]


def _entity_scores(gold: Sentences, predicted: Sentences, average: Optional[str]):
    from seqeval.metrics.v1 import precision_recall_fscore_support
    from seqeval.scheme import IOB2

    return precision_recall_fscore_support(
        gold, predicted, average=average, mode="strict", scheme=IOB2, zero_division=0
    )


def micro(part: int) -> Callable[[Sentences, Sentences, List[str]], float]:
    """Entity-level micro precision (0), recall (1) or F1 (2)."""
    return lambda gold, predicted, tags: float(_entity_scores(gold, predicted, "micro")[part]) if gold else 0.0


def f1_by_type(gold: Sentences, predicted: Sentences, tags: List[str]) -> Dict[str, float]:
    """F1 of every declared entity type (0 for a type neither gold nor predicted has)."""
    from seqeval.metrics.v1 import unique_labels
    from seqeval.scheme import IOB2

    found = unique_labels(gold, predicted, IOB2) if gold else []
    f1 = _entity_scores(gold, predicted, None)[2] if found else []
    scores = dict(zip(found, map(float, f1)))
    return {f"entity_f1_{t}": scores.get(t, 0.0) for t in entity_types(tags)}


def token_accuracy(gold: Sentences, predicted: Sentences, tags: List[str]) -> float:
    pairs = [(g, p) for gs, ps in zip(gold, predicted) for g, p in zip(gs, ps)]
    return sum(g == p for g, p in pairs) / len(pairs) if pairs else 0.0


@cache
def _tag_sequences_class():
    """The torchmetrics Metric class (built on first use: kind modules import torch lazily)."""
    from torchmetrics import Metric
    from torchmetrics.utilities import dim_zero_cat

    class TagSequences(Metric):
        """Every word's gold and predicted tag index and each sentence's length; `score` reads them
        as tag-name sentences in compute()."""

        full_state_update = False

        def __init__(self, tags: List[str], score: Callable):
            super().__init__()
            self.tags, self.score = list(tags), score
            for state in ("gold", "predicted", "lengths"):
                self.add_state(state, default=[], dist_reduce_fx="cat")

        def update(self, gold, predicted, lengths) -> None:
            self.gold.append(gold)
            self.predicted.append(predicted)
            self.lengths.append(lengths)

        def _sentences(self, state) -> Sentences:
            names = [self.tags[i] for i in dim_zero_cat(state).tolist()]
            ends = dim_zero_cat(self.lengths).cumsum(0).tolist()
            return [names[start:end] for start, end in zip([0, *ends], ends)]

        def compute(self):
            if len(self.lengths) == 0:  # a list before a DDP sync, one tensor after it
                return self.score([], [], self.tags)
            return self.score(self._sentences(self.gold), self._sentences(self.predicted), self.tags)

    return TagSequences


def tag_metric(score: Callable) -> Callable[[TaskConfig], Any]:
    return lambda task: _tag_sequences_class()(task.tags, score)


def tags_of(metric, out) -> None:
    metric.update(out["gold"], out["predicted"], out["lengths"])


ENTITY_PARTS = {"entity_f1": 2, "entity_precision": 0, "entity_recall": 1}  # seqeval's micro (p, r, f)


def _sum(task):
    from torchmetrics import SumMetric

    return SumMetric()


def _count(name: str) -> Callable[[Any, Dict[str, Any]], None]:
    """Adds the batch's `name` counts (outputs without them, e.g. a constant baseline's, add none)."""
    return lambda metric, out: metric.update(out[name]) if name in out else None


def count_spec(name: str) -> MetricSpec:
    """A count of an LM's unparseable output (not a score in [0, 1]: fewer is better)."""
    return MetricSpec(name, _sum, _count(name), higher_is_better=False, lm_only=True, high=float("inf"))
