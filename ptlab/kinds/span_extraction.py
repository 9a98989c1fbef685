"""Span extraction (extractive QA, SQuAD style): an encoder points at the answer in the context.

Encoders only, through a question-answering head (start and end logits per token); LMs read the
same data as generation (conf/task/squad.yaml). The question (the template's text) and the
context are read as a pair; a context longer than the window is read in `max_source_length`-token
windows that overlap by `doc_stride` tokens (the fast tokenizer's overflowing tokens and offset
mapping, as in transformers' run_qa example). Training: each window points at the first
reference answer, or at [CLS] where the answer is not wholly inside it. Evaluation: the best valid
span over all windows of a question (start <= end, both in the context, at most
`max_answer_length` tokens; the highest start + end logit, compared across windows as run_qa
does), its text cut from the context by the offsets, scored by the official SQuAD v1.1 exact match
and token F1, the very scorer of the generation framing.

Every encoded row says whether its question was cut (`truncated`: a question longer than half the
window, or with `windows: false` a context longer than one) and whether no window holds any
reference answer (`answer_lost`); results.json counts both per split.

No segment ids are sent, for any method: peft (0.21)'s question-answering wrapper drops
`token_type_ids`, so sending them would give full fine-tuning an input the others never see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from ptlab.config.schema import Family
from ptlab.errors import ConfigError, DataError, positive
from ptlab.kinds import Head, MetricSpec, TaskKind
from ptlab.kinds.fields import text
from ptlab.kinds.generation import SQUAD, Generation, mean_metric, squad_metric, texts_of
from ptlab.config.task import TaskConfig
from ptlab.data.example import Example

CONTEXT, ANSWERS, START = "context", "answers", "answer_start"  # task.columns keys this kind reads


@dataclass
class SpanExtractionTaskConfig(TaskConfig):
    doc_stride: int = 128  # tokens shared by consecutive windows of a long context (run_qa's default)
    windows: bool = True  # false: one window, the rest of a long context cut off (and counted)
    max_answer_length: int = 30  # tokens of the longest span predicted (run_qa's default)


class SpanExtraction(TaskKind):
    name = "span_extraction"
    config = SpanExtractionTaskConfig
    action = "point at an answer span"
    answer_columns = (CONTEXT, ANSWERS)
    metrics = {name: MetricSpec(name, mean_metric, squad_metric(score)) for name, score in SQUAD.items()}
    encoding_version = 1

    def check(self) -> None:
        task = self.task
        positive("task.doc_stride", task.doc_stride)
        positive("task.max_answer_length", task.max_answer_length)
        if task.doc_stride >= task.max_source_length // 2 - 8:
            raise ConfigError(
                f"task.doc_stride={task.doc_stride} must be below half the window (task.max_source_length="
                f"{task.max_source_length}) less 8: consecutive windows must advance through the context"
            )
        super().check()

    def head(self, family: Family) -> Optional[Head]:
        return Head.question_answering if family == Family.encoder else None

    def num_labels(self) -> int:
        return 2  # a start and an end logit per token

    def template_fields(self) -> List[str]:
        return [f for f in super().template_fields() if f != START]

    @classmethod
    def example_statistics(cls, metric: str, rows: List[Dict[str, Any]]):
        return Generation.example_statistics(metric, rows)

    # --- data ---
    def example(self, record: Dict[str, Any], where: str):
        columns = self.task.columns
        context = text(record[columns[CONTEXT]], columns[CONTEXT], where)
        answers = texts_of(record[columns[ANSWERS]], columns[ANSWERS], where)
        if START in columns:
            starts = record[columns[START]]
            starts = starts if isinstance(starts, list) else [starts]
            if len(starts) != len(answers):
                raise DataError(f"{where}: {len(answers)} answers but {len(starts)} answer starts")
        else:  # no offsets given: the first occurrence of each answer
            starts = [context.find(a) for a in answers]
        for answer, start in zip(answers, starts):
            if not isinstance(start, int) or start < 0 or context[start : start + len(answer)] != answer:
                raise DataError(f"{where}: the answer {answer!r} is not in the context at {start!r}")
        pairs = list(dict.fromkeys(zip(answers, starts)))  # SQuAD repeats an answer per annotator
        return Example(
            fields={**self.fields(record, where), CONTEXT: context},
            target=pairs[0][0],
            references=[a for a, _ in pairs],  # one per start (a text may recur at two places)
            starts=[s for _, s in pairs],
            where=where,
        )

    # --- model side ---
    def encode(self, reader, ex, train: bool) -> Dict[str, Any]:
        question, truncated = self._question(reader, reader.prompt_text(ex))
        windows = self._windows(reader, question, ex.fields[CONTEXT])
        context = ex.fields[CONTEXT]
        truncated = truncated or max(e for w in windows for e in w["ends"]) < len(context.rstrip())  # context cut
        answers = [(s, s + len(a)) for a, s in zip(ex.references, ex.starts)]
        places = [[_place(w, *span) for w in windows] for span in answers]
        reader.truncated = reader.truncated or truncated  # counted per split (ptlab/models/prompt_fit.py)
        reader.answer_lost = all(p is None for spans in places for p in spans)
        row = {
            "prompt_ids": [i for w in windows for i in w["ids"]],  # all windows: the cost length grouping sorts
            "answer_ids": [],
            "windows": [w["ids"] for w in windows],
        }
        if train:  # the first reference, as run_qa; [CLS] (position 0) where a window lacks it
            return {**row, "positions": [list(p or (0, 0)) for p in places[0]]}
        offsets = {"starts": [w["starts"] for w in windows], "ends": [w["ends"] for w in windows]}
        return {**row, **offsets, "context": context, "references": ex.references}

    def _question(self, reader, question: str):
        """The question, cut to half the window (the context needs the rest); and whether it was cut."""
        tokenizer = reader.tokenizer
        if not tokenizer.is_fast:
            raise ConfigError("span extraction needs a fast tokenizer (its offset mapping locates the answer)")
        cap = self.task.max_source_length // 2
        offsets = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        return (question, False) if len(offsets) <= cap else (question[: offsets[cap - 1][1]], True)

    def _windows(self, reader, question: str, context: str) -> List[Dict[str, Any]]:
        """The context's windows after the question: ids, and each token's character span in the
        context (-1 for the question's and the special tokens)."""
        tokenizer, task = reader.tokenizer, self.task
        tokenizer.truncation_side = "right"
        encoded = tokenizer(
            question,
            context,
            truncation="only_second",
            max_length=task.max_source_length,
            stride=task.doc_stride,
            return_overflowing_tokens=task.windows,
            return_offsets_mapping=True,
        )
        windows = []
        for i, ids in enumerate(encoded["input_ids"] if task.windows else [encoded["input_ids"]]):
            in_context = [s == 1 for s in encoded.sequence_ids(i)]
            spans = encoded["offset_mapping"][i] if task.windows else encoded["offset_mapping"]
            starts = [a if keep else -1 for (a, _), keep in zip(spans, in_context)]
            ends = [b if keep else -1 for (_, b), keep in zip(spans, in_context)]
            windows.append({"ids": ids, "starts": starts, "ends": ends})
        return windows

    def collate(self, reader, rows, train: bool) -> Dict[str, Any]:
        import torch

        windows = [w for r in rows for w in r["windows"]]
        batch = {**reader.inputs(windows), "owner": [i for i, r in enumerate(rows) for _ in r["windows"]]}
        if train:
            positions = torch.tensor([p for r in rows for p in r["positions"]], dtype=torch.long)
            return {**batch, "positions": positions}
        keys = ("prompt", "starts", "ends", "context", "references", "answer_lost")
        return {**batch, **{key: [r[key] for r in rows] for key in keys}}

    @staticmethod
    def _logits(model, batch):
        """(windows, positions, 2) start and end logits over the windows' positions: prompt tuning's
        virtual tokens, which come first in the head's output, are dropped."""
        import torch

        from ptlab.models.tensors import to_model_device

        inputs = to_model_device({key: batch[key] for key in ("input_ids", "attention_mask")}, model)
        out = model(**inputs)
        width = inputs["input_ids"].shape[1]
        return torch.stack([out.start_logits[:, -width:], out.end_logits[:, -width:]], dim=-1).float()

    def loss(self, reader, model, batch):
        import torch.nn.functional as F

        logits = self._logits(model, batch)
        positions = batch["positions"].to(logits.device)
        return (F.cross_entropy(logits[..., 0], positions[:, 0]) + F.cross_entropy(logits[..., 1], positions[:, 1])) / 2

    def evaluate(self, reader, model, batch, decode):
        logits = self._logits(model, batch)
        best: Dict[int, tuple] = {}  # example -> (score, window, start, end)
        flat = [(w, e) for e, example in enumerate(batch["starts"]) for w in range(len(example))]
        for row, (score, start, end) in enumerate(self._best_spans(logits, batch, flat)):
            w, e = flat[row]
            if start >= 0 and (e not in best or score > best[e][0]):
                best[e] = (score, w, start, end)
        texts = []
        for e, context in enumerate(batch["context"]):
            _, w, start, end = best.get(e, (0.0, 0, -1, -1))
            texts.append(context[batch["starts"][e][w][start] : batch["ends"][e][w][end]] if start >= 0 else "")
        rows = [
            {"prompt": p, "predicted": t, "references": r, "answer_lost": bool(lost)}
            for p, t, r, lost in zip(batch["prompt"], texts, batch["references"], batch["answer_lost"])
        ]
        return {"predictions": texts, "references": batch["references"]}, rows

    def _best_spans(self, logits, batch, flat) -> List[tuple]:
        """Per window, (score, start, end) of its best valid span; start -1 where it has none."""
        import torch

        width = logits.shape[1]
        starts = [batch["starts"][e][w] + [-1] * (width - len(batch["starts"][e][w])) for w, e in flat]
        inside = torch.tensor(starts, device=logits.device) >= 0
        index = torch.arange(width, device=logits.device)
        length = index[None, :] - index[:, None]  # end - start
        valid = (length >= 0) & (length < self.task.max_answer_length)
        valid = valid[None] & inside[:, :, None] & inside[:, None, :]
        scores = (logits[..., 0, None] + logits[..., 1][:, None, :]).masked_fill(~valid, float("-inf"))
        top, where = scores.flatten(1).max(dim=1)
        return [
            (score, int(at) // width, int(at) % width) if score > float("-inf") else (score, -1, -1)
            for score, at in zip(top.tolist(), where.tolist())
        ]


def _place(window: Dict[str, Any], start: int, end: int) -> Optional[tuple]:
    """The token positions of the character span [start, end) in `window`, or None where the window
    does not hold all of it."""
    tokens = [i for i, s in enumerate(window["starts"]) if s >= 0]
    if not tokens or window["starts"][tokens[0]] > start or window["ends"][tokens[-1]] < end:
        return None
    first = next(i for i in tokens if window["ends"][i] > start)
    last = next(i for i in reversed(tokens) if window["starts"][i] < end)
    return first, last
