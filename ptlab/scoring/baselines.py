"""Trivial baselines beside every score, and the check that a run learned something.

A run that learned nothing (every prediction one class, an entity F1 of 0) reads like a weak result
unless what a constant answer scores stands beside it. Per evaluated split, results.json gets:

- `split_majority`: the split's own most frequent gold answer given for every example (the kind
  says what an answer is: TaskKind.constant). It peeks at the evaluated labels, so it is the best a
  constant answer can do on accuracy: an upper bound of a constant predictor.
- `train_majority`: the most frequent answer of the training examples the run read (none for
  zero-shot, which reads none): what a constant chosen without peeking scores.
- `collapsed_to`: the one answer every prediction gave, where the gold holds several (else null).
- `below_baseline`: whether the run's main metric is worse than `split_majority`'s.

Both constants are scored by the task's own TaskMetrics, so they are on the run's scale. The
warning compares with the split's own majority: it exists for every evaluated split (zero-shot runs
read no training split), it does not move with a few-shot draw, and a score below it means some
constant answer beats the run on that very split, which is always worth a warning; the train
majority, which a shifted label distribution can put far below it, is recorded beside it.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ptlab.kinds import TaskKind

SPLITS = {"val": "validation", "test": "test"}  # a run's predictions key -> the data split
TOLERANCE = 1e-6  # a score this close to the baseline is not below it (float sums in another order)


def of_run(
    kind: TaskKind, lm_head: bool, raw: Dict[str, list], predictions: Dict[str, list], scores: Dict[str, Any]
) -> Dict[str, Any]:
    """The `baselines` entry of results.json: per evaluated split (`scores`: its metrics, the
    selected checkpoint's for validation), the constants' scores and the checks of the run's."""
    main = kind.metrics[kind.task.main_metric]
    found = {}
    for key, split in SPLITS.items():
        if not predictions.get(key) or split not in raw:
            continue
        majority = scored(kind, lm_head, raw[split], raw[split])
        score = (scores.get(split) or {}).get(kind.task.main_metric)
        found[split] = {
            "split_majority": majority,
            "train_majority": scored(kind, lm_head, raw[split], raw["train"]) if raw.get("train") else None,
            "collapsed_to": collapsed_to(predictions[key]),
            "below_baseline": (
                worse(score, majority["metrics"][kind.task.main_metric], main.higher_is_better)
                if majority and score is not None
                else None
            ),
        }
    return found


def scored(kind: TaskKind, lm_head: bool, evaluated: list, source: list) -> Optional[Dict[str, Any]]:
    """The constant answer most frequent in `source`, and its metrics on `evaluated`."""
    from ptlab.scoring.metrics import TaskMetrics

    constant = kind.constant(evaluated, source) if evaluated and source else None
    if constant is None:
        return None
    metrics = TaskMetrics(kind, lm_head, local=True)
    metrics.update(constant.outputs)
    return {
        "answer": constant.answer,
        "count": constant.count,
        "of": constant.total,
        "metrics": {name: float(value) for name, value in metrics.compute().items()},
    }


def worse(score: float, baseline: float, higher_is_better: bool) -> bool:
    """Whether `score` is worse than `baseline` in the metric's direction, beyond float noise."""
    return score < baseline - TOLERANCE if higher_is_better else score > baseline + TOLERANCE


def collapsed_to(rows: List[Dict[str, Any]]) -> Any:
    """The one answer of every prediction row (a list-valued one, a sentence's tags, counts each of
    its elements) where the gold answers (or references) hold more than one; else None."""
    predicted = _answers(rows, "predicted")
    gold = _answers(rows, "gold") or _answers(rows, "references")
    if len(predicted) != 1 or len(gold) < 2:
        return None
    return next(iter(predicted))


def _answers(rows: List[Dict[str, Any]], key: str) -> set:
    values = [row[key] for row in rows if key in row]
    return {v for value in values for v in (value if isinstance(value, list) else [value])}
