"""Token classification (e.g. named-entity recognition): every word of a sentence gets one of `task.tags`.

Encoders: a token-classification head reads the words (`is_split_into_words`, cut on the
right at task.max_source_length) and is trained and read at the first sub-token of each word
(the other sub-tokens and the special tokens are ignored, -100). Evaluation covers every word of
every sentence: a word cut off by truncation counts as predicted "O".

Causal and seq2seq LMs write the entities as text, prompted by `task.lm_template` (the task as
`for_head` gives it to an LM: its template), and their text is parsed back to IOB2
(ptlab/kinds/entity_generation.py); the kind picks the framing by the reader's head. Their runs
also count the unparseable output (`unparseable`, `unparseable_predictions`). API models are n/a.

Metrics follow seqeval (strict mode, IOB2; ptlab/kinds/entity_metrics.py), the same for both heads:
entity-level micro F1, precision and recall; `entity_f1_by_type`, F1 per entity type of `task.tags`,
logged as `entity_f1_<TYPE>`; and token accuracy over all words.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from ptlab.config.schema import Family
from ptlab.config.task import TaskConfig
from ptlab.errors import ConfigError, DataError
from ptlab.kinds import LM_HEADS, Constant, Head, MetricSpec, TaskKind, most_frequent
from ptlab.kinds.fields import check_format
from ptlab.kinds.entity_generation import UNPARSEABLE, UNPARSEABLE_PREDICTIONS, EntityGeneration
from ptlab.data.example import Example
from ptlab.kinds.entity_metrics import (
    ENTITY_PARTS,
    OUTSIDE,
    count_spec,
    f1_by_type,
    micro,
    tag_metric,
    tags_of,
    token_accuracy,
)

BY_TYPE = "entity_f1_by_type"  # a breakdown, not one number: it cannot be the main metric


@dataclass
class TokenClassificationTaskConfig(TaskConfig):
    # The tag set, IOB2 (O, B-<TYPE>, I-<TYPE>); order = class index. Required.
    tags: Optional[List[str]] = None
    # The prompt of causal and seq2seq LMs (str.format over the fields), which answer "TYPE: span; ..."
    # (ptlab/kinds/entity_generation.py); encoders read the words as they are. null: LMs are n/a.
    lm_template: Optional[str] = None


class TokenClassification(TaskKind):
    name = "token_classification"
    config = TokenClassificationTaskConfig
    action = "label each token"
    answer_columns = ("tags",)
    metrics = {
        **{name: MetricSpec(name, tag_metric(micro(part)), tags_of) for name, part in ENTITY_PARTS.items()},
        BY_TYPE: MetricSpec(BY_TYPE, tag_metric(f1_by_type), tags_of, value=dict),
        "token_accuracy": MetricSpec("token_accuracy", tag_metric(token_accuracy), tags_of),
        UNPARSEABLE: count_spec(UNPARSEABLE),
        UNPARSEABLE_PREDICTIONS: count_spec(UNPARSEABLE_PREDICTIONS),
    }

    def __init__(self, task: TaskConfig):
        super().__init__(task)
        self.lm = EntityGeneration(task)

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
        if task.selected.text != "{tokens}" and task.template != task.lm_template:  # for_head's LM task passes
            raise ConfigError(
                f"task.template: a token_classification task reads the words as they are; set it to "
                f"'{{tokens}}' (got {task.selected.text!r})"
            )
        if task.main_metric == BY_TYPE:
            raise ConfigError(f"task.main_metric={BY_TYPE} is one F1 per entity type; choose entity_f1")
        if task.main_metric in (UNPARSEABLE, UNPARSEABLE_PREDICTIONS):
            raise ConfigError(f"task.main_metric={task.main_metric} counts unparseable LM output; choose entity_f1")
        if task.lm_template is not None:
            check_format(task.lm_template, self.template_fields(), "task.lm_template")
        super().check()

    def head(self, family: Family) -> Optional[Head]:
        if family == Family.encoder:
            return Head.token_classification
        lm = self.task.lm_template is not None and family != Family.api  # the API reader takes no token ids
        return LM_HEADS.get(family) if lm else None

    def for_head(self, head: Head) -> TaskConfig:
        """An LM reads `task.lm_template` as the task's template and is scored with the unparseable counts."""
        task = self.task
        if not head.is_lm:
            return task
        counts = [m for m in (UNPARSEABLE, UNPARSEABLE_PREDICTIONS) if m not in task.metrics]
        return dataclasses.replace(task, template=task.lm_template, templates={}, metrics=[*task.metrics, *counts])

    @classmethod
    def example_statistics(cls, metric: str, rows: List[Dict[str, Any]]):
        """Per sentence, seqeval's strict IOB2 entities (hits, predicted, gold) for the entity
        metrics, (correct, words) for token accuracy; an F1 per type is not one number (None)."""
        if not rows or any("gold" not in row or "predicted" not in row for row in rows):
            return None
        from ptlab.scoring import example_stats

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

    def answer_text(self, ex) -> str:
        return self.lm.answer_text(ex)

    # --- model side: an LM's head writes the entities (self.lm); an encoder's tags each word ---
    def encode(self, reader, ex, train: bool) -> Dict[str, Any]:
        from ptlab.models.tensors import IGNORE

        if reader.has_lm_head:
            return self.lm.encode(reader, ex, train)

        ids, starts = self._word_starts(reader, ex.tokens)
        cut = [self.task.tags[tag] for tag, start in zip(ex.tags, starts) if start < 0]  # words truncation dropped
        reader.truncated = reader.truncated or bool(cut)
        reader.answer_lost = any(tag != OUTSIDE for tag in cut)  # an entity's word lost: counted, scored as O
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

        if reader.has_lm_head:
            return self.lm.collate(reader, rows, train)
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

        if reader.has_lm_head:
            return self.lm.loss(reader, model, batch)
        logits = self._logits(reader, model, batch).float()
        labels = batch["labels"].to(logits.device)
        return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE)

    def evaluate(self, reader, model, batch, decode):
        import torch

        if reader.has_lm_head:
            return self.lm.evaluate(reader, model, batch, decode)
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
