"""Multiple choice (COPA, HellaSwag-style tasks): the prompt is followed by one of the example's own choices.

The choices are data: `task.choices` names the task.columns fields that hold them (one text each,
or a list of texts), so their number may differ between examples. The label is the gold choice's
position: `task.label_values` maps data values to positions, `task.columns.choice_labels` names a
list of per-example choice labels the label is looked up among (ARC's answerKey among
question.choices[].label, "A"-"E" or "1"-"4"), else a label naming a choice column (e.g.
"choice2") is that column's position; a bare integer is refused (0- or 1-based?).

LMs (causal, seq2seq, API) rank-score every choice, written by `task.choice_template`, after the
prompt through the shared scorer (each prompt read once per example) and train with the LM loss
on the gold choice. Encoders read each (prompt, choice) pair with a one-logit sequence-classification
head, an example's pair logits ranked by softmax and trained with cross-entropy: the head peft
knows as SEQ_CLS, so every peft method applies as on classification. `accuracy` reads each
choice's summed log-probability, `accuracy_norm` its per-token mean, `accuracy_char_norm` its sum
per character of the choice as written (lm-eval's acc_norm; LMs only); on an encoder the first
two are the head's log-softmax over the choices.

A template may instead list the choices under labels and score each label (MMLU style): its own
`option_labels`, else each example's labels from the data (`task.columns.choice_labels`). The
framing is the template's (ptlab/kinds/choice_options.py), so one task may hold both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List

from ptlab.config.schema import Family
from ptlab.config.task import TaskConfig
from ptlab.errors import ConfigError, DataError
from ptlab.kinds import Constant, Head, MetricSpec, TaskKind, choice_options, most_frequent
from ptlab.kinds.fields import is_integer, text, type_mismatch, value_key
from ptlab.kinds.choice_options import CHOICE_LABELS, OPTIONS, ChoiceTemplateConfig
from ptlab.kinds.classification import example_scores, one_hot_constant
from ptlab.data.example import Example


@dataclass
class MultipleChoiceTaskConfig(TaskConfig):
    choices: List[str] = field(default_factory=list)  # task.columns fields holding the choices, in order
    choice_template: str = " {choice}"  # how a choice is written after the prompt (a template may say otherwise)
    lowercase_first: bool = False  # lower-case each choice's first character (lm-eval's COPA prompt)
    templates: Dict[str, ChoiceTemplateConfig] = field(default_factory=dict)
    template_type = ChoiceTemplateConfig


def _accuracy(task):
    from torchmetrics import MeanMetric

    return MeanMetric()  # the share of examples whose best choice is the gold one (any number of choices)


def _reading(score: str):
    """Feed a metric whether the choice with the highest `score` is the gold one."""
    return lambda metric, out: metric.update((out[score].argmax(-1) == out["gold"]).float())


# Every metric here is a mean over examples: a prediction row carries each one's per-example value.
PER_EXAMPLE = {"accuracy": "sum", "accuracy_norm": "mean", "accuracy_char_norm": "char"}


class MultipleChoice(TaskKind):
    name = "multiple_choice"
    config = MultipleChoiceTaskConfig
    action = "rank answer choices"
    answer_columns = ("label",)
    reads_label_values = True
    encoding_version = 2  # an encoded row holds the continuations scored (a label, or the choice's text)
    metrics = {
        "accuracy": MetricSpec("accuracy", _accuracy, _reading("sum")),
        "accuracy_norm": MetricSpec("accuracy_norm", _accuracy, _reading("mean")),
        "accuracy_char_norm": MetricSpec("accuracy_char_norm", _accuracy, _reading("char"), lm_only=True),
    }

    # --- validation ---
    def check(self) -> None:
        task = self.task
        if not task.choices:
            raise ConfigError(
                f"task {task.name}: a multiple_choice task needs task.choices, the task.columns fields holding "
                f"the choices (e.g. [choice1, choice2])"
            )
        for name in task.choices:
            if name not in task.columns or name in self.answer_columns:
                raise ConfigError(
                    f"task.choices names {name!r}, which is not a field of task.columns: {list(task.columns)}"
                )
        for name, template in task.templates.items() or [(None, task.selected)]:
            own = CHOICE_LABELS in task.columns
            choice_options.check(template, name, task.choice_template, len(task.choices), self._options_taken(), own)
        if CHOICE_LABELS in task.columns and task.label_values is not None:
            raise ConfigError(
                f"task.label_values and task.columns.{CHOICE_LABELS}: the label is looked up among each example's "
                f"choice labels, so a fixed map of values to positions would contradict it; keep one"
            )
        for key, position in (task.label_values or {}).items():
            if not isinstance(position, int) or isinstance(position, bool) or position < 0:
                raise ConfigError(
                    f"task.label_values.{key}={position!r} is not a choice position (0 is the first choice)"
                )
        super().check()

    def head(self, family: Family):
        return Head.sequence_classification if family == Family.encoder else super().head(family)

    def num_labels(self) -> int:
        return 1  # an encoder scores one (prompt, choice) pair per sequence

    def template_fields(self) -> List[str]:
        listing = [] if self._options_taken() else [OPTIONS]
        return [f for f in super().template_fields() if f not in self.task.choices and f != CHOICE_LABELS] + listing

    def _options_taken(self) -> bool:
        """Whether the task has a field of its own called `options`: then `{options}` is that field."""
        return OPTIONS in self.task.columns or OPTIONS in self.task.derived

    # --- data ---
    def example(self, record: Dict[str, Any], where: str):
        choices, names = self._choices(record, where)
        columns = self.task.columns
        value, own = record[columns["label"]], None
        if CHOICE_LABELS in columns:
            marks = record[columns[CHOICE_LABELS]]
            label = self._labelled(value, marks, len(choices), where)
            own = [text(mark, columns[CHOICE_LABELS], where) for mark in marks]
        else:
            label = self._position(value, names, len(choices), where)
        template = self.task.selected
        key = f"task.templates.{self.task.template}.option_labels"
        shown = choice_options.shown(template, own, len(choices), where, key)
        fields = self.fields(record, where)
        if shown is not None and choice_options.lists(template, self._options_taken()):
            fields[OPTIONS] = choice_options.listing(template, shown, choices)
        return Example(fields=fields, label=label, choices=choices, choice_labels=shown, where=where)

    def _choices(self, record: Dict[str, Any], where: str) -> tuple:
        """The example's choices, and the data column naming each (None where a column holds a list)."""
        choices: List[str] = []
        names: List[Any] = []
        for name in self.task.choices:
            column = self.task.columns[name]
            value = record[column]
            held = value if isinstance(value, list) else [value]
            choices += [text(v, column, where) for v in held]
            names += [None] * len(held) if isinstance(value, list) else [column]
        if not choices:
            raise DataError(f"{where}: no choices in {[self.task.columns[n] for n in self.task.choices]}")
        empty = [i + 1 for i, c in enumerate(choices) if not c.strip()]
        if empty:
            raise DataError(f"{where}: choice {empty[0]} is empty")
        return choices, names

    def _labelled(self, value: Any, labels: Any, count: int, where: str) -> int:
        """The position of the gold choice among the example's own choice labels (compared as data
        values: a JSON 1 is the label "1")."""
        column = self.task.columns[CHOICE_LABELS]
        if not isinstance(labels, list) or len(labels) != count:
            raise DataError(
                f"{where}: task.columns.{CHOICE_LABELS} ({column!r}) holds {labels!r}; it needs one label per choice "
                f"({count} choices)"
            )
        keys = [value_key(label) for label in labels]
        if len(set(keys)) < count:
            raise DataError(f"{where}: choice labels {labels} (column {column!r}) repeat; the label would be ambiguous")
        if value_key(value) not in keys:
            raise DataError(
                f"{where}: label {value!r} (column {self.task.columns['label']!r}) is not one of this example's "
                f"choice labels {labels} (column {column!r})"
            )
        return keys.index(value_key(value))

    def _position(self, value: Any, names: List[Any], count: int, where: str) -> int:
        """The gold choice's position (0-based) that the label value means."""
        column = self.task.columns["label"]
        said = f"{where}: label {value!r} (column {column!r})"
        if self.task.label_values is not None:
            table = {value_key(k): v for k, v in self.task.label_values.items()}
            key = value_key(value)
            if key not in table:
                raise DataError(
                    f"{said} is not a key of task.label_values {list(self.task.label_values)}"
                    f"{type_mismatch(self.task.label_values, value)}"
                )
            position = table[key]
        elif isinstance(value, str) and value in names:
            position = names.index(value)
        elif is_integer(value):
            raise DataError(
                f"{said} is a number, which may count the choices from 0 or from 1: say which in the task YAML, "
                f"e.g. task.label_values: {{0: 0, 1: 1}} (0-based) or {{1: 0, 2: 1}} (1-based)"
            )
        else:
            raise DataError(
                f"{said} names no choice column {[n for n in names if n]}; map labels to choice positions "
                f"with task.label_values (e.g. {{A: 0, B: 1}})"
            )
        if position >= count:
            raise DataError(f"{said} is choice position {position}, but this example has {count} choices")
        return position

    def choice_text(self, choice: str, label: str = "") -> str:
        """A choice as written after the prompt, under `label` where the template lists options."""
        if self.task.lowercase_first:
            choice = choice[:1].lower() + choice[1:]
        written = self.task.selected.choice_template
        return (self.task.choice_template if written is None else written).format(choice=choice, label=label)

    def continuations(self, ex) -> List[str]:
        """What the model is scored on for each of the example's choices: its text, or its label."""
        shown = ex.choice_labels or [""] * len(ex.choices)
        return [self.choice_text(c, label) for c, label in zip(ex.choices, shown)]

    def answer_text(self, ex) -> str:
        return self.continuations(ex)[ex.label]

    def constant(self, evaluated, source) -> Constant:
        """The most frequent gold position, chosen for every example (wrong where it has fewer choices)."""
        position, count = most_frequent([ex.label for ex in source])
        width = max(position + 1, *(len(ex.choices) for ex in evaluated))
        gold, scores = one_hot_constant([ex.label for ex in evaluated], position, width)
        return Constant(position, count, len(source), {**dict.fromkeys(PER_EXAMPLE.values(), scores), "gold": gold})

    # --- model side ---
    def encode(self, reader, ex, train: bool) -> Dict[str, Any]:
        texts = self.continuations(ex)
        # An encoder's prompt_ids only sort batches by length: it reads the (prompt, choice) pairs.
        row = {"prompt_ids": reader.encode_prompt(ex), "label": ex.label, "choices": ex.choices, "continuations": texts}
        if not reader.has_lm_head:
            prompt = reader.prompt_text(ex)
            return {**row, "pairs": [reader.encode_pair(prompt, t.strip()) for t in texts], "answer_ids": []}
        ids = [reader.encode_target(t) for t in texts]
        # An API model's choices are texts its server tokenizes: no token count here.
        longest = max((len(c) for c in ids if not isinstance(c, str)), default=0)
        if longest > self.task.max_target_length:
            raise DataError(
                f"{ex.where}: a choice is {longest} tokens long, more than task.max_target_length="
                f"{self.task.max_target_length}; raise it"
            )
        return {**row, "choice_ids": ids, "answer_ids": ids[ex.label]}

    def collate(self, reader, rows, train: bool) -> Dict[str, Any]:
        import torch

        labels = torch.tensor([r["label"] for r in rows])
        shown = {} if train else {k: [r[k] for r in rows] for k in ("prompt", "choices", "continuations")}
        if reader.has_lm_head:
            prompts = [r["prompt_ids"] for r in rows]
            if train:
                return reader.with_answers(prompts, [r["answer_ids"] for r in rows])
            return {"prompt_ids": prompts, "choice_ids": [r["choice_ids"] for r in rows], "label": labels, **shown}
        counts = [len(r["pairs"]) for r in rows]
        valid = torch.tensor([[j < n for j in range(max(counts))] for n in counts])
        pairs = reader.pair_inputs([p for r in rows for p in r["pairs"]])
        return {**pairs, "valid": valid, "label": labels, **shown}

    def _pair_scores(self, reader, model, batch):
        """An encoder's logit for every (example, choice), -inf where an example has fewer choices."""
        from ptlab.models.tensors import spread

        inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
        return spread(reader.logits(model, inputs).float().squeeze(-1), batch["valid"])

    def loss(self, reader, model, batch):
        if reader.has_lm_head:
            return reader.answer_loss(model, batch)
        import torch.nn.functional as F

        scores = self._pair_scores(reader, model, batch)
        return F.cross_entropy(scores, batch["label"].to(scores.device))

    def evaluate(self, reader, model, batch, decode):
        import torch

        if reader.has_lm_head:
            summed, mean = reader.score(model, batch["prompt_ids"], batch["choice_ids"])
        else:
            summed = mean = self._pair_scores(reader, model, batch).log_softmax(-1)
        out = {"sum": summed, "mean": mean, "gold": batch["label"].to(summed.device)}
        if reader.has_lm_head:
            width = summed.shape[1]
            chars = [[len(c) for c in cs] + [1] * (width - len(cs)) for cs in batch["continuations"]]
            out["char"] = summed / torch.tensor(chars, device=summed.device)
        rows = []
        shown = zip(batch["prompt"], batch["choices"], batch["continuations"], out["gold"].tolist())
        for (prompt, choices, scored, gold), s, m in zip(shown, summed.tolist(), mean.tolist()):
            scores = s[: len(choices)]
            rows.append(
                {
                    "prompt": prompt,
                    "choices": choices,
                    "continuations": scored,  # the text each choice was scored as, after the prompt
                    "gold": gold,
                    "scores": scores,
                    "scores_norm": m[: len(choices)],
                    "predicted": scores.index(max(scores)),
                }
            )
        return out, example_scores(rows, out, PER_EXAMPLE, self.task.metrics)
