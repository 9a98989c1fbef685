"""Named entities as generated text: how a causal or encoder-decoder LM does a token_classification task.

The framing follows InstructUIE (Wang et al., 2023, "InstructUIE: Multi-task Instruction Tuning for
Unified Information Extraction", arXiv:2304.08085), whose NER output is "type: span" pairs joined by
"; " and "None" for a sentence without entities, as in the ChatGPT evaluations of Han et al. (2023, "Is
Information Extraction Solved by ChatGPT?", arXiv:2305.14450). Chosen over one entity per line because
ptlab's decoding ends a prediction at its first newline (and in-context demonstrations are lines),
and over GPT-NER's inline @@span## marking (Wang et al., 2023, arXiv:2304.10428) because rewriting the
whole sentence costs many more generated tokens and a copy of every word to align.

The target (trained on, shown by in-context demonstrations) is built from the gold IOB2 tags, entities
in sentence order with their words as the sentence has them: "PER: John Smith; LOC: Paris", or "none".
A prediction is parsed back to IOB2 over the sentence's words: each item is one mention, matched to
the first run of still-untagged words equal to its span. An item whose type is not one of the tag
set's, whose span is no such run (not in the sentence, or every occurrence already taken), or that
has no "type: span" shape is unparseable: it adds no entity and is counted; an empty prediction is
one unparseable item. The IOB2 sentences are then scored by the encoder path's seqeval metrics.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

from ptlab.kinds.entity_metrics import OUTSIDE, entity_types

NONE = "none"  # the answer for a sentence without entities
SEPARATOR = "; "
UNPARSEABLE = "unparseable"  # items (type: span) that added no entity
UNPARSEABLE_PREDICTIONS = "unparseable_predictions"  # predictions with at least one such item


def entities_text(words: List[str], tags: List[str]) -> str:
    """The gold answer: each IOB2 entity of the sentence as "TYPE: its words", in order."""
    items, current = [], None
    for word, tag in zip(words, tags):
        if tag.startswith("I-") and current is not None and current[0] == tag[2:]:
            current[1].append(word)
            continue
        current = [tag[2:], [word]] if tag != OUTSIDE else None
        if current is not None:
            items.append(current)
    return SEPARATOR.join(f"{kind}: {' '.join(span)}" for kind, span in items) or NONE


def parse_entities(text: str, words: List[str], types: List[str]) -> Tuple[List[str], int]:
    """(the IOB2 tags of `words` that `text` names, how many of its items are unparseable)."""
    tags = [OUTSIDE] * len(words)
    text = text.strip()
    if not text:
        return tags, 1
    if text.lower().rstrip(".") == NONE:
        return tags, 0
    by_name = {t.lower(): t for t in types}
    bad = 0
    for item in filter(None, (part.strip() for part in text.split(SEPARATOR.strip()))):
        name, colon, span = item.partition(":")
        kind, span_words = by_name.get(name.strip().lower()), span.split()
        start = _free_run(words, tags, span_words) if colon and kind and span_words else -1
        if start < 0:
            bad += 1
            continue
        tags[start : start + len(span_words)] = [f"B-{kind}"] + [f"I-{kind}"] * (len(span_words) - 1)
    return tags, bad


def _free_run(words: List[str], tags: List[str], span: List[str]) -> int:
    """Where `span` first occurs among `words` on untagged words only; -1: nowhere."""
    n = len(span)
    for start in range(len(words) - n + 1):
        if words[start : start + n] == span and all(t == OUTSIDE for t in tags[start : start + n]):
            return start
    return -1


class EntityGeneration:
    """The LM side of the token_classification kind: encode, collate, loss and evaluate for LM heads
    (the kind delegates to it where the reader's head is an LM's)."""

    def __init__(self, task):
        self.task = task

    def answer_text(self, ex) -> str:
        return " " + entities_text(ex.tokens, [self.task.tags[t] for t in ex.tags])

    def encode(self, reader, ex, train: bool) -> Dict[str, Any]:
        prompt = reader.encode_prompt(ex)
        if train:
            return {"prompt_ids": prompt, "answer_ids": reader.target_for_training(self.answer_text(ex))}
        return {"prompt_ids": prompt, "tags": ex.tags, "tokens": ex.tokens}

    def collate(self, reader, rows, train: bool) -> Dict[str, Any]:
        prompts = [r["prompt_ids"] for r in rows]
        if train:
            return reader.with_answers(prompts, [r["answer_ids"] for r in rows])
        return {"prompt_ids": prompts, **{key: [r[key] for r in rows] for key in ("prompt", "tags", "tokens")}}

    def loss(self, reader, model, batch):
        return reader.answer_loss(model, batch)

    def evaluate(self, reader, model, batch, decode) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
        """The generation kind's decoding (the reader's `generate`, greedy or beam), each text parsed
        to IOB2; the scorer outputs are the encoder path's, plus the unparseable counts."""
        import torch

        from ptlab.models.tensors import to_model_device

        tags = self.task.tags
        ending = decode.ending(["\n"])
        texts, _ = reader.generate(
            model, batch["prompt_ids"], decode.num_beams, self.task.max_target_length, ending, decode.stop_early
        )
        parsed = [parse_entities(t, words, entity_types(tags)) for t, words in zip(texts, batch["tokens"])]
        predicted = [[tags.index(name) for name in names] for names, _ in parsed]
        gold = batch["tags"]

        def flat(values):
            return torch.tensor([v for row in values for v in row], dtype=torch.long)

        bad = [n for _, n in parsed]
        out = to_model_device(
            {
                "gold": flat(gold),
                "predicted": flat(predicted),
                "lengths": flat([[len(s)] for s in gold]),
                UNPARSEABLE: torch.tensor(bad, dtype=torch.float),
                UNPARSEABLE_PREDICTIONS: torch.tensor([float(n > 0) for n in bad]),
            },
            model,
        )
        rows = [
            {"prompt": p, "tokens": w, "generated": t, UNPARSEABLE: n, "gold": [tags[i] for i in g], "predicted": names}
            for p, w, t, n, g, (names, _) in zip(batch["prompt"], batch["tokens"], texts, bad, gold, parsed)
        ]
        return out, rows
