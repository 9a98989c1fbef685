"""ptlab-report's seed-aware test (ptlab/report/seeds.py) against known answers: its calibration by
simulation, its two levels by hand where one of them is zero, a corpus metric's bootstrap by exact
enumeration, Holm's adjustment, and the kinds' statistics against their own metrics.

Simulation sizes: 600 simulated datasets put the binomial standard error of a 0.05 rejection rate
at 0.009, so [0.03, 0.07] is +-2.2 of them; each has 300 resamples, enough because the test uses the
bootstrap for a variance (relative error ~4 %), not for tail quantiles. About 2-4 s on 2 cores.
"""

from __future__ import annotations

import itertools
import math
import statistics

import numpy as np
import pytest

from ptlab.scoring.example_stats import mean_of
from ptlab.kinds.classification import Classification
from ptlab.kinds.generation import Generation
from ptlab.kinds.token_classification import TokenClassification
from ptlab.report.seeds import Column, compare, holm, resample
from ptlab.report.stats import t_interval


def column(scores: np.ndarray) -> Column:
    """A column of per-example scores (seeds x examples), its metric the mean over examples."""
    stats = [mean_of(s) for s in scores]
    return Column(np.stack([s.per_row for s in stats]), stats[0].value, tuple(map(str, range(scores.shape[1]))))


def simulate(rng, seeds_a: int, seeds_b: int, examples: int, effect: float = 0.0):
    """Two methods' right/wrong per seed and example: example difficulty shared (sd 1 logit), each
    method's own take on each example (sd 0.5: methods disagree on which are hard), a per-seed
    shift (sd 0.3 logit, about 6 points of accuracy between seeds), `effect` added to a's logits."""
    difficulty, disagreement = rng.normal(0.5, 1.0, examples), rng.normal(0.0, 0.5, examples)

    def method(seeds: int, sign: int, shift: float) -> np.ndarray:
        logits = difficulty + sign * disagreement + rng.normal(0.0, 0.3, (seeds, 1)) + shift
        return (rng.random((seeds, examples)) < 1 / (1 + np.exp(-logits))).astype(float)

    return column(method(seeds_a, 1, effect)), column(method(seeds_b, -1, 0.0))


def rejections(effect: float, datasets: int) -> tuple:
    """(seed-aware, examples-only) rejection rates at 0.05: 3 vs 5 seeds, 150 examples."""
    rng = np.random.default_rng(2026)
    seed_aware = examples_only = 0
    for i in range(datasets):
        a, b = simulate(rng, 3, 5, 150, effect)
        result = compare(a, b, *resample([a, b], resamples=300, seed=i), margin=0.01)
        seed_aware += result.p < 0.05
        examples_only += result.examples.p < 0.05
    return seed_aware / datasets, examples_only / datasets


def test_under_the_null_the_seed_aware_test_rejects_at_its_level_and_examples_only_does_not():
    seed_aware, examples_only = rejections(0.0, 600)
    assert 0.03 <= seed_aware <= 0.07
    assert examples_only > 0.15  # conditional on the trained models: blind to the seeds' variance


def test_a_known_effect_is_found():
    seed_aware, _ = rejections(1.5, 100)  # about +25 points of accuracy
    assert seed_aware >= 0.9


def test_with_no_example_variance_the_interval_is_the_t_interval_over_seeds():
    """Every example of a seed scores alike: the examples' share is 0, and what is left is the
    Student-t interval of the difference of two means over seeds (Satterthwaite's df)."""
    a_seeds, b_seeds = [0.62, 0.70, 0.75], [0.60, 0.61, 0.66, 0.58]
    a = column(np.repeat(np.array(a_seeds)[:, None], 50, axis=1))
    b = column(np.repeat(np.array(b_seeds)[:, None], 50, axis=1))
    result = compare(a, b, *resample([a, b], resamples=500), margin=0.01)
    va, vb = statistics.variance(a_seeds) / 3, statistics.variance(b_seeds) / 4
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 3)
    from scipy.stats import t

    half = t.ppf(0.975, df) * math.sqrt(va + vb)
    delta = statistics.mean(a_seeds) - statistics.mean(b_seeds)
    assert (result.delta, result.low, result.high) == pytest.approx((delta, delta - half, delta + half))
    assert result.df == pytest.approx(df) and result.examples.se == pytest.approx(0, abs=1e-12)
    # against a constant column the same sum is the one-sample t-interval over a's seeds
    zero = column(np.zeros((1, 50)))
    alone = compare(a, zero, *resample([a, zero], resamples=500), margin=0.01)
    assert (alone.low, alone.high) == pytest.approx(t_interval(a_seeds))
    assert not alone.covers_training and result.covers_training


def test_a_corpus_metric_is_recomputed_on_each_resample_as_by_hand():
    """Entity F1 of two sentences: the first has both its entities found, the second's one entity
    is missed and a wrong one predicted. Corpus F1 = 2*2 / (3 + 3) = 2/3 (not the mean of the
    sentences' F1, 1/2). A bootstrap draw takes the first twice (F1 1, probability 1/4), each once
    (2/3, 1/2) or the second twice (0, 1/4). Against a column with no entities (F1 0): Δ = 2/3,
    percentile interval [0, 1], SE = sqrt(E[F1^2] - E[F1]^2) with E[F1] = 7/12, E[F1^2] = 17/36."""
    rows = [
        {"gold": ["B-PER", "I-PER", "O", "B-LOC"], "predicted": ["B-PER", "I-PER", "O", "B-LOC"]},
        {"gold": ["B-ORG", "O", "O"], "predicted": ["O", "B-LOC", "O"]},
    ]
    nothing = [{"gold": r["gold"], "predicted": ["O"] * len(r["gold"])} for r in rows]
    a, b = (TokenClassification.example_statistics("entity_f1", r) for r in (rows, nothing))
    ids = ("0", "1")
    x, y = Column(a.per_row[None], a.value, ids), Column(b.per_row[None], b.value, ids)
    result = compare(x, y, *resample([x, y], resamples=20_000), margin=0.01)
    assert result.delta == pytest.approx(2 / 3)
    assert (result.examples.low, result.examples.high) == (0.0, 1.0)
    assert result.examples.se == pytest.approx(math.sqrt(17 / 36 - (7 / 12) ** 2), rel=0.02)
    assert result.examples.p == pytest.approx(0.25, abs=0.015)  # draws as far from 2/3 as 0 is: F1 0


def test_bleu_on_a_resample_is_sacrebleus_corpus_bleu_of_those_segments():
    import sacrebleu

    hypotheses = ["the cat sat on the mat", "a dog runs fast", "hello there world", "it rains today"]
    references = [["the cat is on the mat"], ["a dog is running fast"], ["hello world there"], ["it is raining"]]
    rows = [{"predicted": h, "references": r} for h, r in zip(hypotheses, references)]
    for name, corpus in (("bleu", sacrebleu.corpus_bleu), ("chrf", sacrebleu.corpus_chrf)):
        stats = Generation.example_statistics(name, rows)
        for draw in ([0, 0, 2, 3], [1, 1, 1, 2], [0, 1, 2, 3]):
            expected = corpus([hypotheses[i] for i in draw], [[references[i][0] for i in draw]]).score / 100
            assert stats.value(stats.per_row[draw].sum(0)[None])[0] == pytest.approx(expected), (name, draw)


def test_macro_f1_on_a_resample_is_torchmetrics_macro_f1_of_those_rows():
    import torch
    from torchmetrics.classification import MulticlassF1Score

    rows = [{"gold": g, "predicted": p} for g, p in ["aa", "ab", "bb", "ba", "cc", "ca", "aa", "bc"]]
    stats = Classification.example_statistics("macro_f1", rows)
    index = {"a": 0, "b": 1, "c": 2}
    for draw in itertools.islice(itertools.product(range(8), repeat=4), 0, 4096, 97):
        picked = [rows[i] for i in draw]
        expected = MulticlassF1Score(3, average="macro")(
            torch.tensor([index[r["predicted"]] for r in picked]), torch.tensor([index[r["gold"]] for r in picked])
        )
        assert stats.value(stats.per_row[list(draw)].sum(0)[None])[0] == pytest.approx(float(expected), abs=1e-6)


def test_holm_adjusts_the_smallest_p_most_and_keeps_the_order():
    # hand: sorted 0.01, 0.02, 0.04, 0.30 -> x4, x3, x2, x1 = 0.04, 0.06, 0.08, 0.30 (already monotone)
    assert holm([0.04, 0.30, 0.01, 0.02]) == pytest.approx([0.08, 0.30, 0.04, 0.06])
    # a later step never goes below an earlier one: 0.01 x3 = 0.03, then 0.011 x2 = 0.022 -> 0.03
    assert holm([0.011, 0.01, 0.5]) == pytest.approx([0.03, 0.03, 0.5])
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0]) and holm([]) == []


def test_generation_means_are_the_kinds_own_metrics():
    """SQuAD F1/EM and ROUGE are means over examples: their statistics give what the metric does."""
    rows = [
        {"predicted": "the Eiffel tower", "references": ["Eiffel Tower", "the tower"]},
        {"predicted": "in 1889", "references": ["1889"]},
        {"predicted": "Paris, France", "references": ["Lyon"]},
    ]
    outputs = {"predictions": [r["predicted"] for r in rows], "references": [r["references"] for r in rows]}
    for name in ("f1", "exact_match", "rouge1", "rouge2", "rouge_l"):
        spec = Generation.metrics[name]
        metric = spec.build(None)
        spec.update(metric, outputs)
        stats = Generation.example_statistics(name, rows)
        assert stats.value(stats.per_row.sum(0)[None])[0] == pytest.approx(float(metric.compute()), abs=1e-6), name
