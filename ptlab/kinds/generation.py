"""Text generation (table-to-text, summarization, translation, extractive QA as generation).

Only LM families apply (an encoder's head cannot write text). Training is the LM loss on the
target; evaluation decodes (greedy or beam, `decode.num_beams`) and scores against every
reference of a source: the target column's texts (a text or a list, e.g. SQuAD's answers), the
`task.references` columns', and, with `task.group_by`, those of every example sharing the source.
A prediction is the generated text from its first non-space character to the first newline or
`task.stop` sequence; greedy decoding stops each row there (`decode.stop_early`), and each
prediction row records its `decoded_tokens`.
Metrics (ptlab/scoring/text_metrics.py, all in [0, 1]): sacreBLEU and chrF (corpus level, signatures in
results.json), ROUGE-1/2/L (rouge-score, best reference), SQuAD exact match and token F1.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ptlab.config.task import TaskConfig
from ptlab.config.origin import origin
from ptlab.errors import ConfigError, DataError
from ptlab.kinds import Constant, MetricSpec, TaskKind, most_frequent
from ptlab.kinds.fields import text
from ptlab.data.example import Example


@dataclass
class GenerationTaskConfig(TaskConfig):
    group_by: Optional[str] = None  # template field whose equal values share references
    references: List[str] = field(default_factory=list)  # more data columns of references (text or list)
    # Where a prediction ends besides its first line's newline and eos (e.g. "Q:" after a QA
    # template): the text is cut at the earliest, and decoding stops there (ptlab/models/generate.py).
    # Per task, not per template: where a prediction ends is the scorer's, which every template and
    # method on the task shares.
    stop: List[str] = field(default_factory=list)

    @property
    def stops(self) -> List[str]:
        """Every stop sequence of a prediction: the newline that ends its line, then `stop`."""
        return ["\n", *self.stop]


def _sacre(name: str):
    def make():
        from sacrebleu.metrics import BLEU, CHRF

        return {"bleu": BLEU, "chrf": CHRF}[name]()

    return make


def _corpus(name: str):
    def build(task):
        from ptlab.scoring.text_metrics import SacreCorpusScore

        return SacreCorpusScore(_sacre(name))

    return build


def _texts(metric, out) -> None:
    metric.update(out["predictions"], out["references"])


def mean_metric(task):
    from torchmetrics import MeanMetric

    return MeanMetric()


def _rouge(key: str):
    def update(metric, out) -> None:
        from ptlab.scoring.text_metrics import rouge_scores

        metric.update(rouge_scores(key, out["predictions"], out["references"]))

    return update


def squad_metric(score: str):
    def update(metric, out) -> None:
        from ptlab.scoring import text_metrics

        scores = text_metrics.best_over_references(getattr(text_metrics, score), out["predictions"], out["references"])
        metric.update(scores)

    return update


ROUGE = {"rouge1": "rouge1", "rouge2": "rouge2", "rouge_l": "rougeL"}  # metric -> rouge-score's key
SQUAD = {"exact_match": "exact_match", "f1": "token_f1"}  # metric -> its per-answer score in text_metrics


class Generation(TaskKind):
    name = "generation"
    action = "generate text"
    config = GenerationTaskConfig
    answer_columns = ("target",)
    metrics = {
        "bleu": MetricSpec("bleu", _corpus("bleu"), _texts),
        "chrf": MetricSpec("chrf", _corpus("chrf"), _texts),
        **{name: MetricSpec(name, mean_metric, _rouge(key)) for name, key in ROUGE.items()},
        **{name: MetricSpec(name, mean_metric, squad_metric(score)) for name, score in SQUAD.items()},
    }

    def __init__(self, task: TaskConfig):
        super().__init__(task)
        self._reference_counts: set = set()  # references per evaluated item, for sacreBLEU's signature

    def check(self) -> None:
        super().check()
        fields = self.template_fields()
        if self.task.group_by is not None and self.task.group_by not in fields:
            raise ConfigError(f"task.group_by={self.task.group_by!r} is not a template field of task.columns: {fields}")
        for i, stop in enumerate(self.task.stop):
            if not stop:
                raise ConfigError(f"task.stop[{i}] is empty{origin('task.stop')}; a stop sequence needs text")

    # --- data ---
    def example(self, record: Dict[str, Any], where: str):
        column = self.task.columns["target"]
        texts = texts_of(record[column], column, where)
        for extra in self.task.references:
            if extra not in record:
                raise DataError(f"{where}: no column {extra!r} (task.references); columns present: {list(record)}")
            texts += texts_of(record[extra], extra, where)
        references = list(dict.fromkeys(texts))  # SQuAD repeats an answer per annotator: once is enough
        return Example(fields=self.fields(record, where), target=references[0], references=references, where=where)

    def answer_text(self, ex) -> str:
        return " " + ex.target.strip()

    def eval_examples(self, examples):
        """One item per source (e.g. meaning representation) with all its references."""
        key = self.task.group_by
        groups: Dict[str, Any] = {}
        refs: Dict[str, List[str]] = defaultdict(list)
        for ex in examples:
            k = ex.fields[key] if key else ex.where
            groups.setdefault(k, ex)
            refs[k] += [r for r in ex.references if r not in refs[k]]
        self._reference_counts |= {len(r) for r in refs.values()}
        return [Example(fields=ex.fields, references=refs[k], where=ex.where) for k, ex in groups.items()]

    def metric_notes(self) -> Dict[str, str]:
        """sacreBLEU's signature of each corpus metric (how the number was computed)."""
        from ptlab.scoring.text_metrics import sacre_signature

        counts = [[""] * n for n in self._reference_counts]  # only their number shows in a signature
        return {m: sacre_signature(_sacre(m), counts) for m in ("bleu", "chrf") if m in self.task.metrics and counts}

    @classmethod
    def example_statistics(cls, metric: str, rows: List[Dict[str, Any]]):
        """Every metric from the rows' predicted text and references: sacreBLEU's sufficient
        statistics per segment for BLEU and chrF, each example's score for the means."""
        if metric not in cls.metrics or not rows or any("predicted" not in r or "references" not in r for r in rows):
            return None
        from ptlab.scoring import example_stats, text_metrics

        predicted, references = [row["predicted"] for row in rows], [row["references"] for row in rows]
        if metric in ("bleu", "chrf"):
            corpus = text_metrics.SacreCorpusScore(_sacre(metric))
            return example_stats.per_sum(corpus._stats(predicted, references), corpus.from_sums)
        if metric in ROUGE:
            scores = text_metrics.rouge_scores(ROUGE[metric], predicted, references)
        else:
            scores = text_metrics.best_over_references(getattr(text_metrics, SQUAD[metric]), predicted, references)
        return example_stats.mean_of(scores.tolist())

    def constant(self, evaluated, source) -> Constant:
        """The most frequent target (each example's first reference) written for every source."""
        answer, count = most_frequent([ex.references[0] for ex in source])
        outputs = {"predictions": [answer] * len(evaluated), "references": [ex.references for ex in evaluated]}
        return Constant(answer, count, len(source), outputs)

    # --- model side ---
    def encode(self, reader, ex, train: bool) -> Dict[str, Any]:
        if train:
            return {"prompt_ids": reader.encode_prompt(ex), "answer_ids": reader.target_for_training(ex.target)}
        return {"prompt_ids": reader.encode_prompt(ex), "references": ex.references}

    def collate(self, reader, rows, train: bool) -> Dict[str, Any]:
        prompts = [r["prompt_ids"] for r in rows]
        if train:
            return reader.with_answers(prompts, [r["answer_ids"] for r in rows])
        return {
            "prompt_ids": prompts,
            "prompt": [r["prompt"] for r in rows],
            "references": [r["references"] for r in rows],
        }

    def loss(self, reader, model, batch):
        return reader.answer_loss(model, batch)

    def evaluate(self, reader, model, batch, decode):
        task = self.task
        ending = decode.ending(task.stops)
        texts, decoded = reader.generate(
            model, batch["prompt_ids"], decode.num_beams, task.max_target_length, ending, decode.stop_early
        )
        rows = [
            {"prompt": p, "predicted": t, "references": r, **({"decoded_tokens": n} if n is not None else {})}
            for p, t, r, n in zip(batch["prompt"], texts, batch["references"], decoded)
        ]
        return {"predictions": texts, "references": batch["references"]}, rows


def texts_of(value: Any, column: str, where: str) -> List[str]:
    """A reference column's texts: one text, or a non-empty list of them, none empty (an empty
    reference would score an empty prediction as exact, and train on no answer)."""
    if isinstance(value, list) and not value:
        raise DataError(f"{where}: column {column!r} holds an empty list; it needs at least one reference")
    texts = [text(v, column, where) for v in (value if isinstance(value, list) else [value])]
    if not all(t.strip() for t in texts):
        raise DataError(f"{where}: column {column!r} holds an empty reference {texts}; a reference needs text")
    return texts
