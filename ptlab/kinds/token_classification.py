"""Token classification (e.g. named-entity recognition): every word of a sentence gets one of `task.tags`.

Encoders only: a token-classification head reads the words (`is_split_into_words`, cut on the
right at task.max_source_length) and is trained and read at the first sub-token of each word
(the other sub-tokens and the special tokens are ignored, -100). Evaluation covers every word of
every sentence: a word cut off by truncation counts as predicted "O". LMs have no such head (a
generation framing is future work), so causal, seq2seq and API models are n/a.

Metrics follow seqeval (strict mode, IOB2): entity-level micro F1, precision and recall;
`entity_f1_by_type`, F1 per entity type of `task.tags`, logged as `entity_f1_<TYPE>`; and token
accuracy over all words. The metric state is every word's gold and predicted tag index and each
sentence's length (concatenated across DDP ranks); seqeval runs in compute().
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Callable, Dict, List, Optional, Tuple

from ptlab.config import Family
from ptlab.task_config import TaskConfig
from ptlab.errors import ConfigError, DataError
from ptlab.kinds import Constant, Head, MetricSpec, TaskKind, most_frequent

OUTSIDE = "O"
BY_TYPE = "entity_f1_by_type"  # a breakdown, not one number: it cannot be the main metric


@dataclass
class TokenClassificationTaskConfig(TaskConfig):
    # The tag set, IOB2 (O, B-<TYPE>, I-<TYPE>); order = class index. Required.
    tags: Optional[List[str]] = None


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


def _micro(part: int) -> Callable[[Sentences, Sentences, List[str]], float]:
    """Entity-level micro precision (0), recall (1) or F1 (2)."""
    return lambda gold, predicted, tags: float(_entity_scores(gold, predicted, "micro")[part]) if gold else 0.0


def _f1_by_type(gold: Sentences, predicted: Sentences, tags: List[str]) -> Dict[str, float]:
    """F1 of every declared entity type (0 for a type neither gold nor predicted has)."""
    from seqeval.metrics.v1 import unique_labels
    from seqeval.scheme import IOB2

    found = unique_labels(gold, predicted, IOB2) if gold else []
    f1 = _entity_scores(gold, predicted, None)[2] if found else []
    scores = dict(zip(found, map(float, f1)))
    return {f"entity_f1_{t}": scores.get(t, 0.0) for t in entity_types(tags)}


def _token_accuracy(gold: Sentences, predicted: Sentences, tags: List[str]) -> float:
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


def _tag_metric(score: Callable) -> Callable[[TaskConfig], Any]:
    return lambda task: _tag_sequences_class()(task.tags, score)


def _tags_of(metric, out) -> None:
    metric.update(out["gold"], out["predicted"], out["lengths"])


ENTITY_PARTS = {"entity_f1": 2, "entity_precision": 0, "entity_recall": 1}  # seqeval's micro (p, r, f)


class TokenClassification(TaskKind):
    name = "token_classification"
    config = TokenClassificationTaskConfig
    action = "label each token"
    answer_columns = ("tags",)
    metrics = {
        **{name: MetricSpec(name, _tag_metric(_micro(part)), _tags_of) for name, part in ENTITY_PARTS.items()},
        BY_TYPE: MetricSpec(BY_TYPE, _tag_metric(_f1_by_type), _tags_of, value=dict),
        "token_accuracy": MetricSpec("token_accuracy", _tag_metric(_token_accuracy), _tags_of),
    }

    def check(self) -> None:
        task = self.task
        if not task.tags:
            raise ConfigError(f"task {task.name}: a token_classification task needs task.tags (e.g. [O, B-PER, I-PER])")
        bad = [t for t in task.tags if t != OUTSIDE and not (t[:2] in ("B-", "I-") and len(t) > 2)]
        if bad:
            raise ConfigError(f"task.tags: {bad[0]!r} is not an IOB2 tag (O, B-<TYPE> or I-<TYPE>)")
        if len(set(task.tags)) != len(task.tags) or OUTSIDE not in task.tags:
            raise ConfigError(f"task.tags must name each tag once, {OUTSIDE!r} included; got {task.tags}")
        if "tokens" not in task.columns:
            raise ConfigError(f"task {task.name}: a token_classification task needs task.columns.tokens")
        if task.selected.text != "{tokens}":
            raise ConfigError(
                f"task.template: a token_classification task reads the words as they are; set it to "
                f"'{{tokens}}' (got {task.selected.text!r})"
            )
        if task.main_metric == BY_TYPE:
            raise ConfigError(f"task.main_metric={BY_TYPE} is one F1 per entity type; choose entity_f1")
        super().check()

    def head(self, family: Family) -> Optional[Head]:
        return Head.token_classification if family == Family.encoder else None

    @classmethod
    def example_statistics(cls, metric: str, rows: List[Dict[str, Any]]):
        """Per sentence, seqeval's strict IOB2 entities (hits, predicted, gold) for the entity
        metrics, (correct, words) for token accuracy; an F1 per type is not one number (None)."""
        if not rows or any("gold" not in row or "predicted" not in row for row in rows):
            return None
        from ptlab import example_stats

        gold, predicted = [row["gold"] for row in rows], [row["predicted"] for row in rows]
        if metric == "token_accuracy":
            return example_stats.ratio(
                [sum(map(str.__eq__, g, p)) for g, p in zip(gold, predicted)], list(map(len, gold))
            )
        if metric not in ENTITY_PARTS:
            return None
        from seqeval.scheme import IOB2, Entities

        true, found = (Entities(sentences, IOB2).entities for sentences in (gold, predicted))
        counts = [(len(set(t) & set(f)), len(f), len(t)) for t, f in zip(true, found)]
        return example_stats.precision_recall_f1(counts, ENTITY_PARTS[metric])

    def num_labels(self) -> int:
        return len(self.task.tags)

    # --- data ---
    def example(self, record: Dict[str, Any], where: str):
        from ptlab.data.sources import Example

        words = self._column(record, "tokens", where)
        tags = self._column(record, "tags", where)
        if len(tags) != len(words):
            raise DataError(f"{where}: {len(words)} tokens but {len(tags)} tags")
        if not all(isinstance(w, str) for w in words):
            raise DataError(f"{where}: column {self.task.columns['tokens']!r} holds a non-text token")
        indices = [self._tag_index(tag, where, i) for i, tag in enumerate(tags)]
        names = [self.task.tags[t] for t in indices]
        for i, name in enumerate(names):  # strict IOB2 would drop an entity that starts with I-
            if name.startswith("I-") and (i == 0 or names[i - 1][2:] != name[2:]):
                before = names[i - 1] if i else "the sentence start"
                raise DataError(
                    f"{_token_place(where, i)}: tag {name!r} after {before}: not IOB2 (an entity starts with "
                    f"B-{name[2:]}); convert IOB1 files to IOB2 first"
                )
        return Example(fields={"tokens": " ".join(words)}, tokens=list(words), tags=indices, where=where)

    def _column(self, record: Dict[str, Any], field: str, where: str) -> list:
        column = self.task.columns[field]
        value = record[column]
        if not isinstance(value, list) or not value:
            raise DataError(f"{where}: column {column!r} holds {value!r}, expected a non-empty list (one per token)")
        return value

    def _tag_index(self, tag: Any, where: str, i: int) -> int:
        """A tag name, or its index (a hub ClassLabel int), -> its index in task.tags."""
        tags = self.task.tags
        if isinstance(tag, str) and tag in tags:
            return tags.index(tag)
        if isinstance(tag, int) and not isinstance(tag, bool) and 0 <= tag < len(tags):
            return tag
        raise DataError(
            f"{_token_place(where, i)}: tag {tag!r} (column {self.task.columns['tags']!r}) is not in task.tags {tags}"
        )

    def constant(self, evaluated, source) -> Constant:
        """The most frequent tag (O, in any real data: no entity found) given to every word."""
        import torch

        tag, count = most_frequent([t for ex in source for t in ex.tags])
        words = [t for ex in evaluated for t in ex.tags]
        outputs = {
            "gold": torch.tensor(words, dtype=torch.long),
            "predicted": torch.full((len(words),), tag, dtype=torch.long),
            "lengths": torch.tensor([len(ex.tags) for ex in evaluated], dtype=torch.long),
        }
        return Constant(self.task.tags[tag], count, sum(len(ex.tags) for ex in source), outputs)

    # --- model side ---
    def encode(self, reader, ex, train: bool) -> Dict[str, Any]:
        from ptlab.models.tensors import IGNORE

        ids, starts = self._word_starts(reader, ex.tokens)
        if train:
            labels = [IGNORE] * len(ids)
            for word, position in enumerate(starts):
                if position >= 0:
                    labels[position] = ex.tags[word]
            return {"prompt_ids": ids, "answer_ids": [], "labels": labels}  # answer_ids: none (length grouping)
        return {"prompt_ids": ids, "word_starts": starts, "tags": ex.tags, "tokens": ex.tokens}

    def _word_starts(self, reader, words: List[str]) -> Tuple[List[int], List[int]]:
        """The ids of the words, and the position of each word's first sub-token (-1: cut off by truncation)."""
        tokenizer = reader.tokenizer
        if not tokenizer.is_fast:
            raise ConfigError("token classification needs a fast tokenizer (its word_ids() align tags to words)")
        tokenizer.truncation_side = "right"
        encoded = tokenizer(words, is_split_into_words=True, truncation=True, max_length=self.task.max_source_length)
        starts = [-1] * len(words)
        for position, word in enumerate(encoded.word_ids()):
            if word is not None and starts[word] < 0:
                starts[word] = position
        return encoded["input_ids"], starts

    def collate(self, reader, rows, train: bool) -> Dict[str, Any]:
        from ptlab.models.tensors import IGNORE, pad

        inputs = reader.inputs([r["prompt_ids"] for r in rows])
        if train:
            return {**inputs, "labels": pad([r["labels"] for r in rows], IGNORE)}
        return {**inputs, **{key: [r[key] for r in rows] for key in ("word_starts", "tags", "tokens")}}

    @staticmethod
    def _logits(reader, model, batch):
        """(batch, positions, tags) for the input's positions: prompt tuning's virtual tokens, which
        come first in the head's output, are dropped."""
        inputs = {key: batch[key] for key in ("input_ids", "attention_mask")}
        logits = reader.logits(model, inputs)
        return logits[:, logits.shape[1] - inputs["input_ids"].shape[1] :]

    def loss(self, reader, model, batch):
        import torch.nn.functional as F

        from ptlab.models.tensors import IGNORE

        logits = self._logits(reader, model, batch).float()
        labels = batch["labels"].to(logits.device)
        return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE)

    def evaluate(self, reader, model, batch, decode):
        import torch

        logits = self._logits(reader, model, batch)
        best = logits.argmax(-1).tolist()
        outside = self.task.tags.index(OUTSIDE)
        gold = batch["tags"]
        predicted = [[row[p] if p >= 0 else outside for p in starts] for row, starts in zip(best, batch["word_starts"])]

        def flat(sentences):
            return torch.tensor([t for s in sentences for t in s], dtype=torch.long, device=logits.device)

        out = {"gold": flat(gold), "predicted": flat(predicted), "lengths": flat([[len(s)] for s in gold])}
        tags = self.task.tags
        rows = [
            {"tokens": words, "gold": [tags[t] for t in g], "predicted": [tags[t] for t in p]}
            for words, g, p in zip(batch["tokens"], gold, predicted)
        ]
        return out, rows


def _token_place(where: str, i: int) -> str:
    """Where token i of a record is: its line in a CoNLL file (a sentence's tokens are on
    consecutive lines from `where`'s), else the record and the token's number."""
    path, _, line = where.rpartition(":")
    return f"{path}:{int(line) + i}" if line.isdigit() else f"{where}, token {i + 1}"
