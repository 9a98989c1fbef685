"""Sentence(-pair) classification: the template's text gets one of `task.labels`.

LMs (causal, seq2seq) rank-score the labels' verbalizers after the prompt through the shared
scorer (ptlab/models/families.py) and train with the LM loss on the gold verbalizer; encoders
classify with a sequence-classification head and train with cross-entropy. `accuracy` and
`macro_f1` read the summed log-probability of each verbalizer, `accuracy_norm` its per-token mean
(on an encoder both are the head's log-softmax).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from ptlab.config import Family, TaskConfig
from ptlab.errors import ConfigError, DataError
from ptlab.kinds import Head, MetricSpec, TaskKind


@dataclass
class ClassificationTaskConfig(TaskConfig):
    labels: Optional[Dict[str, str]] = None  # label name -> verbalizer; order = class index (required)


def _accuracy(task):
    from torchmetrics.classification import MulticlassAccuracy

    return MulticlassAccuracy(len(task.labels), average="micro")


def _macro_f1(task):
    from torchmetrics.classification import MulticlassF1Score

    return MulticlassF1Score(len(task.labels), average="macro")


def _reading(score: str):
    """Feed a metric the class with the highest `score` (sum or mean log-probability)."""
    return lambda metric, out: metric.update(out[score].argmax(-1), out["gold"])


class Classification(TaskKind):
    name = "classification"
    config = ClassificationTaskConfig
    answer_columns = ("label",)
    metrics = {
        "accuracy": MetricSpec("accuracy", _accuracy, _reading("sum")),
        "accuracy_norm": MetricSpec("accuracy_norm", _accuracy, _reading("mean")),
        "macro_f1": MetricSpec("macro_f1", _macro_f1, _reading("sum")),
    }

    def __init__(self, task: TaskConfig):
        super().__init__(task)
        self._choice_ids: Optional[List[List[int]]] = None

    def check(self) -> None:
        if not self.task.labels:
            raise ConfigError(f"task {self.task.name}: a classification task needs task.labels")
        super().check()

    def head(self, family: Family) -> Optional[Head]:
        return Head.sequence_classification if family == Family.encoder else super().head(family)

    def num_labels(self) -> int:
        return len(self.task.labels)

    def label_words(self) -> List[str]:
        return [v.strip() for v in self.task.labels.values()]

    # --- data ---
    def example(self, record: Dict[str, Any], where: str):
        from ptlab.data.sources import Example

        column = self.task.columns["label"]
        return Example(fields=self.fields(record, where), label=self._label_index(record[column], where), where=where)

    def _label_index(self, value: Any, where: str) -> int:
        """Label name -> its index; an int or digit string i -> i (hub ClassLabel, GLUE's "0"/"1")."""
        names = list(self.task.labels)
        if isinstance(value, str) and value in names:
            return names.index(value)
        if isinstance(value, int) and not isinstance(value, bool):
            index = value
        elif isinstance(value, str) and value.isascii() and value.isdigit():
            index = int(value)
        else:
            index = -1
        if 0 <= index < len(names):
            return index
        raise DataError(
            f"{where}: label {value!r} (column {self.task.columns['label']!r}) has no verbalizer; "
            f"known labels: {names} (or their indices 0..{len(names) - 1})"
        )

    # --- model side ---
    def choice_ids(self, reader) -> List[List[int]]:
        """Token ids of each label's verbalizer, in class-index order (never truncated); [] on an
        encoder, whose head scores the labels."""
        if not reader.has_lm_head:
            return []
        if self._choice_ids is None:
            ids = [reader.encode_target(v) for v in self.task.labels.values()]
            longest = max(len(c) for c in ids)
            if longest > self.task.max_target_length:
                raise ConfigError(
                    f"task {self.task.name}: a verbalizer in task.labels is {longest} tokens long, more "
                    f"than task.max_target_length={self.task.max_target_length}"
                )
            self._choice_ids = ids
        return self._choice_ids

    def encode(self, reader, ex, train: bool) -> Dict[str, Any]:
        choices = self.choice_ids(reader)
        return {
            "prompt_ids": reader.encode_prompt(ex),
            "label": ex.label,
            "answer_ids": choices[ex.label] if choices else [],
        }

    def collate(self, reader, rows, train: bool) -> Dict[str, Any]:
        import torch

        prompts = [r["prompt_ids"] for r in rows]
        labels = torch.tensor([r["label"] for r in rows])
        if not train:
            return {"prompt_ids": prompts, "prompt": [r["prompt"] for r in rows], "label": labels}
        if reader.has_lm_head:
            return reader.with_answers(prompts, [r["answer_ids"] for r in rows])
        return {**reader.inputs(prompts), "label": labels}

    def loss(self, reader, model, batch):
        if reader.has_lm_head:
            return reader.answer_loss(model, batch)
        import torch.nn.functional as F

        return F.cross_entropy(reader.logits(model, batch).float(), batch["label"])

    def evaluate(self, reader, model, batch, decode):
        if reader.has_lm_head:
            summed, mean = reader.score(model, batch["prompt_ids"], self.choice_ids(reader))
        else:
            summed = mean = reader.logits(model, reader.inputs(batch["prompt_ids"])).float().log_softmax(-1)
        gold = batch["label"].to(summed.device)
        labels = list(self.task.labels)
        rows = [
            {
                "prompt": prompt,
                "gold": labels[g],
                "predicted": labels[max(range(len(s)), key=s.__getitem__)],
                "scores": dict(zip(labels, s)),
                "scores_norm": dict(zip(labels, m)),
            }
            for prompt, g, s, m in zip(batch["prompt"], gold.tolist(), summed.tolist(), mean.tolist())
        ]
        return {"sum": summed, "mean": mean, "gold": gold}, rows
