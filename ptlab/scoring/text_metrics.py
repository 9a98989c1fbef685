"""Text metrics from their reference implementations, as torchmetrics that sync across devices.

- BLEU and chrF: sacreBLEU. Each segment's sufficient statistics are summed in a tensor state
  (so DDP ranks add up), and the corpus score is sacreBLEU's own from the sums; its signature says
  how it was computed (tokenization, smoothing, number of references, version).
- ROUGE-1/2/L: Google's rouge-score (Porter stemming), the best reference per example by F1,
  averaged over examples.
- Exact match and token F1: the official SQuAD v1.1 evaluation (answer normalization, max over
  the reference answers), averaged over questions.

Every value is in [0, 1] (sacreBLEU's 0-100 divided by 100), as every ptlab metric is.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Callable, List, Sequence

import torch
from torchmetrics import Metric


class SacreCorpusScore(Metric):
    """A sacreBLEU corpus metric (BLEU or CHRF) over every reference of each segment."""

    full_state_update = False

    def __init__(self, make: Callable[[], object]):
        super().__init__()
        self.scorer = make()  # sacrebleu.metrics.BLEU() or CHRF()
        size = len(self._stats(["x"], [["x"]])[0])
        self.add_state("stats", default=torch.zeros(size, dtype=torch.float64), dist_reduce_fx="sum")

    def _stats(self, hypotheses: List[str], references: List[List[str]]) -> list:
        """Per-segment statistics; references may differ in number per segment (None pads)."""
        width = max(len(r) for r in references)
        streams = [[refs[i] if i < len(refs) else None for refs in references] for i in range(width)]
        return self.scorer._extract_corpus_statistics(hypotheses, streams)

    def update(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> None:
        stats = self._stats(list(hypotheses), [list(r) for r in references])
        self.stats += torch.tensor(stats, dtype=torch.float64).sum(0)

    def compute(self) -> torch.Tensor:
        return torch.tensor(self.from_sums(self.stats.tolist()))

    def from_sums(self, sums: Sequence[float]) -> float:
        """sacreBLEU's corpus score from summed segment statistics, in [0, 1] (also ptlab-report's,
        on each bootstrap resample of the segments)."""
        return self.scorer._compute_score_from_stats([int(round(v)) for v in sums]).score / 100


def sacre_signature(make: Callable[[], object], references: Sequence[Sequence[str]]) -> str:
    """sacreBLEU's signature of the metric on these references (nrefs: their number, or var)."""
    scorer = make()
    counts = {len(r) for r in references}
    scorer.num_refs = counts.pop() if len(counts) == 1 else -1
    return str(scorer.get_signature())


def rouge_scores(key: str, predictions: Sequence[str], references: Sequence[Sequence[str]]) -> torch.Tensor:
    """ROUGE `key` (rouge1, rouge2, rougeL) F1 of each prediction, against its best reference."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer([key], use_stemmer=True)
    return torch.tensor([scorer.score_multi(list(r), p)[key].fmeasure for p, r in zip(predictions, references)])


def normalize_answer(text: str) -> str:
    """SQuAD v1.1's normalization: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(reference))


def token_f1(prediction: str, reference: str) -> float:
    predicted, gold = normalize_answer(prediction).split(), normalize_answer(reference).split()
    common = sum((Counter(predicted) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def best_over_references(score: Callable[[str, str], float], predictions, references) -> torch.Tensor:
    """Per prediction, its best `score` over its references (SQuAD's metric_max_over_ground_truths)."""
    return torch.tensor([max(score(p, r) for r in refs) for p, refs in zip(predictions, references)])
