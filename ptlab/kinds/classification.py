"""Sentence(-pair) classification: the template's text gets one of `task.labels`.

LMs (causal, seq2seq) rank-score the labels' verbalizers after the prompt through the shared
scorer (ptlab/models/families.py) and train with the LM loss on the gold verbalizer; encoders
classify with a sequence-classification head and train with cross-entropy. `accuracy` and
`macro_f1` read the summed log-probability of each verbalizer, `accuracy_norm` its per-token mean
(on an encoder both are the head's log-softmax); `accuracy_calibrated` / `macro_f1_calibrated`
the contextually calibrated scores and `accuracy_pmi` the PMI ones (LMs only), ptlab/scoring/calibration.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Dict, List, Optional

from ptlab.scoring import calibration
from ptlab.scoring.calibration import Baseline, CalibrationConfig
from ptlab.config.schema import Family
from ptlab.config.task import TaskConfig
from ptlab.errors import ConfigError, DataError
from ptlab.kinds import Constant, Head, MetricSpec, TaskKind, most_frequent
from ptlab.kinds.fields import check_label_values, is_integer, type_mismatch, value_key
from ptlab.data.example import Example


@dataclass
class ClassificationTaskConfig(TaskConfig):
    labels: Optional[Dict[str, str]] = None  # label name -> verbalizer; order = class index (required)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)


def _accuracy(task):
    from torchmetrics.classification import MulticlassAccuracy

    return MulticlassAccuracy(len(task.labels), average="micro")


def _macro_f1(task):
    from torchmetrics.classification import MulticlassF1Score

    return MulticlassF1Score(len(task.labels), average="macro")


def example_scores(rows: List[Dict[str, Any]], out: Dict[str, Any], per_example: Dict[str, str], metrics) -> list:
    """Give each prediction row `example_scores`: 1.0/0.0 per declared mean-over-examples metric
    (whether the class its scores rank first is the gold one), for ptlab-report's paired bootstrap."""
    hits = {
        metric: (out[key].argmax(-1) == out["gold"]).tolist()
        for metric, key in per_example.items()
        if metric in metrics and key in out
    }
    for i, row in enumerate(rows):
        row["example_scores"] = {metric: float(hit[i]) for metric, hit in hits.items()}
    return rows


def one_hot_constant(gold: List[int], answer: int, width: int) -> tuple:
    """(gold, scores) tensors where every example's scores rank `answer` first: a constant prediction."""
    import torch

    gold_tensor = torch.tensor(gold, dtype=torch.long)
    return gold_tensor, torch.nn.functional.one_hot(torch.full_like(gold_tensor, answer), width).float()


def _reading(score: str):
    """Feed a metric the class with the highest `score` (sum or mean log-probability)."""
    return lambda metric, out: metric.update(out[score].argmax(-1), out["gold"])


# The metrics that are a mean over examples, and the scores each reads: a prediction row carries
# each one's per-example value, so ptlab-report can bootstrap it (macro F1 is not such a mean).
PER_EXAMPLE = {"accuracy": "sum", "accuracy_norm": "mean", "accuracy_calibrated": "calibrated", "accuracy_pmi": "pmi"}


class Classification(TaskKind):
    name = "classification"
    config = ClassificationTaskConfig
    answer_columns = ("label",)
    reads_label_values = True
    metrics = {
        "accuracy": MetricSpec("accuracy", _accuracy, _reading("sum")),
        "accuracy_norm": MetricSpec("accuracy_norm", _accuracy, _reading("mean")),
        "macro_f1": MetricSpec("macro_f1", _macro_f1, _reading("sum")),
        "accuracy_calibrated": MetricSpec("accuracy_calibrated", _accuracy, _reading("calibrated")),
        "macro_f1_calibrated": MetricSpec("macro_f1_calibrated", _macro_f1, _reading("calibrated")),
        "accuracy_pmi": MetricSpec("accuracy_pmi", _accuracy, _reading("pmi"), lm_only=True),
    }

    def __init__(self, task: TaskConfig):
        super().__init__(task)
        self._choice_ids: Optional[List[List[int]]] = None
        self._baseline: Optional[Baseline] = None  # this evaluation pass's calibration baselines

    def check(self) -> None:
        if not self.task.labels:
            raise ConfigError(f"task {self.task.name}: a classification task needs task.labels")
        for name, template in self.task.templates.items():
            if template.labels is not None and list(template.labels) != list(self.task.labels):
                raise ConfigError(
                    f"task.templates.{name}.labels names {list(template.labels)}; it must name the task's labels "
                    f"{list(self.task.labels)}, in that order"
                )
        named: Dict[Any, str] = {}
        for name in self.task.labels:
            if named.setdefault(value_key(name), name) != name:
                raise ConfigError(
                    f"task.labels: {named[value_key(name)]!r} and {name!r} are one data value; rename one"
                )
        check_label_values(self.task.label_values, list(self.task.labels), "a label name")
        super().check()  # the templates are format strings before calibration reads them
        calibration.check(self.task.calibration, self.task.selected.text, self._template_key("text"), self.task.metrics)

    def _template_key(self, part: str) -> str:
        """The config key that holds the selected template's `part` (text or labels)."""
        if self.task.templates:
            return f"task.templates.{self.task.template}.{part}"
        return "task.template" if part == "text" else "task.labels"

    def verbalizers(self) -> Dict[str, str]:
        """label name -> the words the LM scores for it: the selected template's, else the task's."""
        return self.task.selected.labels or self.task.labels

    def head(self, family: Family) -> Optional[Head]:
        return Head.sequence_classification if family == Family.encoder else super().head(family)

    def num_labels(self) -> int:
        return len(self.task.labels)

    def label_words(self) -> List[str]:
        return [v.strip() for v in self.verbalizers().values()]

    @classmethod
    def example_statistics(cls, metric: str, rows: List[Dict[str, Any]]):
        """Macro F1 from each row's gold and predicted label (raw or calibrated); the accuracies are means."""
        predicted = {"macro_f1": "predicted", "macro_f1_calibrated": "predicted_calibrated"}.get(metric)
        if predicted is None:
            return super().example_statistics(metric, rows)
        if not rows or any(predicted not in row for row in rows):
            return None
        from ptlab.scoring.example_stats import macro_f1

        return macro_f1([row["gold"] for row in rows], [row[predicted] for row in rows])

    # --- data ---
    def example(self, record: Dict[str, Any], where: str):
        column = self.task.columns["label"]
        return Example(fields=self.fields(record, where), label=self._label_index(record[column], where), where=where)

    def answer_text(self, ex) -> str:
        return list(self.verbalizers().values())[ex.label]

    @cached_property
    def _label_keys(self) -> Dict[Any, str]:
        """Data value (as `value_key` types it) -> label name: task.label_values, else the label names
        themselves (a JSON true names a label "true"; never the label that 1 maps to). Built once."""
        names = {value_key(name): name for name in self.task.labels}
        return {**names, **{value_key(k): v for k, v in (self.task.label_values or {}).items()}}

    def _label_index(self, value: Any, where: str) -> int:
        """A label value -> its class index: through `task.label_values` where it maps the value, else
        a label name. An integer that names no label, with no mapping, is refused: 0- or 1-based is a
        guess a comparison must not rest on."""
        names, column, values = list(self.task.labels), self.task.columns["label"], self.task.label_values
        key = value_key(value)
        if key in self._label_keys:
            return names.index(self._label_keys[key])
        if is_integer(value) and not values:
            raise DataError(
                f"{where}: label {value!r} (column {column!r}) is an integer, which could be a 0- or 1-based "
                f"class index; declare what it means, e.g. task.label_values: {{0: {names[0]}, 1: {names[1]}}}"
            )
        mapped = f", task.label_values maps {list(values)}" if values else " (or declare task.label_values)"
        raise DataError(
            f"{where}: label {value!r} (column {column!r}) has no verbalizer; known labels: {names}{mapped}"
            f"{type_mismatch(values, value)}"
        )

    # --- model side ---
    def choice_ids(self, reader) -> List[List[int]]:
        """Token ids of each label's verbalizer, in class-index order (never truncated); [] on an
        encoder, whose head scores the labels."""
        if not reader.has_lm_head:
            return []
        if self._choice_ids is None:
            ids = [reader.encode_target(v) for v in self.verbalizers().values()]
            # An API model's verbalizers are texts its server tokenizes: no token count here.
            longest = max((len(c) for c in ids if not isinstance(c, str)), default=0)
            if longest > self.task.max_target_length:
                key = self._template_key("labels") if self.task.selected.labels else "task.labels"
                raise ConfigError(
                    f"task {self.task.name}: a verbalizer in {key} is {longest} tokens long, more "
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

    def constant(self, evaluated, source) -> Constant:
        """The majority class, read by every metric (raw, calibrated or PMI) as the top-ranked one."""
        label, count = most_frequent([ex.label for ex in source])
        gold, scores = one_hot_constant([ex.label for ex in evaluated], label, self.num_labels())
        outputs = {**dict.fromkeys(("sum", "mean", "calibrated", "pmi"), scores), "gold": gold}
        return Constant(list(self.task.labels)[label], count, len(source), outputs)

    def begin_evaluation(self) -> None:
        self._baseline = None  # the model may have changed since the last pass

    def _score(self, reader, model, prompts):
        if reader.has_lm_head:
            return reader.score(model, prompts, self.choice_ids(reader))
        logp = reader.logits(model, reader.inputs(prompts)).float().log_softmax(-1)
        return logp, logp

    def evaluate(self, reader, model, batch, decode):
        summed, mean = self._score(reader, model, batch["prompt_ids"])
        calibrate = any(m in self.task.metrics for m in calibration.CALIBRATED)
        pmi = reader.has_lm_head and any(m in self.task.metrics for m in calibration.PMI)
        if self._baseline is None and (calibrate or pmi):
            self._baseline = Baseline(
                lambda prompts: self._score(reader, model, prompts),
                reader.encode_text,
                self.template_fields(),
                self.task.selected.text,
                self.task.calibration,
                calibrate=calibrate,
                with_cue=pmi,
            )
        out = {"sum": summed, "mean": mean, "gold": batch["label"].to(summed.device)}
        if calibrate:
            out["calibrated"] = self._baseline.calibrated(summed)
        if pmi:
            out["pmi"] = self._baseline.pmi(summed)
        labels = list(self.task.labels)
        rows = [
            {"prompt": prompt, "gold": labels[g], "scores": dict(zip(labels, s)), "scores_norm": dict(zip(labels, m))}
            for prompt, g, s, m in zip(batch["prompt"], out["gold"].tolist(), summed.tolist(), mean.tolist())
        ]
        for key, name in (("sum", "predicted"), ("calibrated", "predicted_calibrated"), ("pmi", "predicted_pmi")):
            if key in out:
                for row, choice in zip(rows, out[key].argmax(-1).tolist()):
                    row[name] = labels[choice]
        return out, example_scores(rows, out, PER_EXAMPLE, self.task.metrics)
