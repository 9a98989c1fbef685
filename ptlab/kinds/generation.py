"""Text generation (e.g. table-to-text): the model writes the target after the prompt.

Only LM families apply (an encoder's head cannot write text). Training is the LM loss on the
target; evaluation decodes (greedy or beam, `decode.num_beams`) and scores against every
reference of a source: examples sharing `task.group_by` form one evaluated item. Metrics are
corpus-level and multi-reference: SacreBLEU (13a tokenization, case-sensitive) and ROUGE-L F1
(best reference), both in [0, 1].
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from ptlab.config import TaskConfig
from ptlab.errors import ConfigError
from ptlab.kinds import MetricSpec, TaskKind, text


@dataclass
class GenerationTaskConfig(TaskConfig):
    group_by: Optional[str] = None  # template field whose equal values share references


def _bleu(task):
    from torchmetrics.text import SacreBLEUScore

    return SacreBLEUScore(tokenize="13a")


def _rouge_l(task):
    from torchmetrics.text import ROUGEScore

    return ROUGEScore(rouge_keys="rougeL", accumulate="best")


def _texts(metric, out) -> None:
    metric.update(out["predictions"], out["references"])


class Generation(TaskKind):
    name = "generation"
    action = "generate text"
    config = GenerationTaskConfig
    answer_columns = ("target",)
    metrics = {
        "bleu": MetricSpec("bleu", _bleu, _texts),
        "rouge_l": MetricSpec("rouge_l", _rouge_l, _texts, value=lambda v: float(v["rougeL_fmeasure"])),
    }

    def check(self) -> None:
        super().check()
        fields = self.template_fields()
        if self.task.group_by is not None and self.task.group_by not in fields:
            raise ConfigError(f"task.group_by={self.task.group_by!r} is not a template field of task.columns: {fields}")

    # --- data ---
    def example(self, record: Dict[str, Any], where: str):
        from ptlab.data.sources import Example

        column = self.task.columns["target"]
        return Example(fields=self.fields(record, where), target=text(record[column], column, where), where=where)

    def answer_text(self, ex) -> str:
        return " " + ex.target.strip()

    def eval_examples(self, examples):
        """One item per source (e.g. meaning representation) with all its references."""
        from ptlab.data.sources import Example

        key = self.task.group_by
        groups: Dict[str, Any] = {}
        refs: Dict[str, List[str]] = defaultdict(list)
        for ex in examples:
            k = ex.fields[key] if key else ex.where
            groups.setdefault(k, ex)
            refs[k].append(ex.target)
        return [Example(fields=ex.fields, references=refs[k], where=ex.where) for k, ex in groups.items()]

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
        texts = reader.generate(model, batch["prompt_ids"], decode.num_beams, self.task.max_target_length)
        rows = [
            {"prompt": p, "predicted": t, "references": r}
            for p, t, r in zip(batch["prompt"], texts, batch["references"])
        ]
        return {"predictions": texts, "references": batch["references"]}, rows
