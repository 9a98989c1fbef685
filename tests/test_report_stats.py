"""ptlab-report's uncertainty: the paired bootstrap and the t-interval against known answers, the
kinds' per-example scores against their metrics, and a report built from run dirs written here
(results.json + predictions_test.jsonl as ptlab-train writes them) whose marks and tuned picks are
known by construction: the tuned pick follows validation even where another variant tests better.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import List

import numpy as np
import pandas as pd
import pytest
import torch

from ptlab.report import main, report
from ptlab.report_gather import gather
from ptlab.report_pareto import pareto_points
from ptlab.report_stats import only_picks, paired_bootstrap, t_interval, tuned
from test_report import rows_of

N = 1000  # test examples


def test_identical_scores_differ_by_nothing():
    a = np.random.default_rng(1).integers(0, 2, N).astype(float)
    result = paired_bootstrap(a, a.copy())
    assert (result.delta, result.low, result.high, result.p) == (0.0, 0.0, 0.0, 1.0)
    assert not result.significant


def test_right_on_100_more_examples_is_a_significant_tenth():
    b = np.zeros(N)
    b[:600] = 1  # b right on 600, a on those and 100 more
    a = b.copy()
    a[600:700] = 1
    result = paired_bootstrap(a, b)
    assert result.delta == pytest.approx(0.1)
    assert 0 < result.low < 0.1 < result.high and result.p < 0.001 and result.significant
    assert paired_bootstrap(a, b) == result  # deterministic


def test_one_example_in_1000_is_not_significant():
    b = np.zeros(N)
    b[:600] = 1
    a = b.copy()
    a[600] = 1
    result = paired_bootstrap(a, b)
    assert result.delta == pytest.approx(0.001)
    assert result.low <= 0 and result.p > 0.05 and not result.significant


def test_bootstrap_standard_error_is_the_analytic_one():
    rng = np.random.default_rng(7)
    a, b = (rng.random(N) < 0.7).astype(float), (rng.random(N) < 0.6).astype(float)
    result = paired_bootstrap(a, b)
    analytic = math.sqrt(np.var(a - b) / N)
    assert result.se == pytest.approx(analytic, rel=0.05)
    assert result.high - result.low == pytest.approx(2 * 1.96 * analytic, rel=0.08)


def test_t_interval_is_the_hand_computed_one():
    values = [0.80, 0.82, 0.87]
    half = 4.302652729749464 * statistics.stdev(values) / math.sqrt(3)  # t(0.975, df=2)
    assert t_interval(values) == pytest.approx((statistics.mean(values) - half, statistics.mean(values) + half))
    assert all(math.isnan(x) for x in t_interval([0.8]))


def _evaluate(compose_run, *overrides):
    from ptlab.build import build_run
    from ptlab.metrics import TaskMetrics

    data, module = build_run(compose_run("model=tiny-llama", "method=zero_shot", *overrides))
    batch = next(iter(data.val_dataloader()))
    with torch.no_grad():
        out, rows = module.kind.evaluate(module.reader, module.model.eval(), batch, None)
    metrics = TaskMetrics(module.kind, lm_head=True)
    metrics.update(out)
    return rows, metrics.compute()


@pytest.mark.parametrize(
    "task, means",
    [
        ("sst2", {"accuracy", "accuracy_norm", "accuracy_calibrated", "accuracy_pmi"}),  # not macro F1
        ("copa", {"accuracy", "accuracy_norm", "accuracy_char_norm"}),
    ],
)
def test_prediction_rows_carry_per_example_scores_that_average_to_the_metric(compose_run, task, means):
    rows, values = _evaluate(compose_run, f"task={task}", "data.eval_limit=6", "data.eval_batch_size=6")
    assert all(set(row["example_scores"]) == means for row in rows)
    for name in means:
        assert statistics.mean(row["example_scores"][name] for row in rows) == pytest.approx(values[name], abs=1e-6)
    for row in rows:
        assert row["example_scores"]["accuracy"] == float(row["predicted"] == row["gold"])


# --- a report from constructed run dirs: gpt2 x sst2, two seeds per column, 1,000 test examples.
# column: (variant, val_best accuracy, examples right on the test split at seed 0; seed 1 one more)
COLUMNS = {
    "zero_shot": ("", 0.70, 700),
    "prompt_tuning": ("", 0.78, 799),  # 2 examples below the best: ≈ in the main table
    "lora": ("", 0.79, 800),  # 1 below: ≈; the best of the tuned picks
    "full_finetune": ("method.lr=0.001", 0.90, 750),  # best on validation, worse on test
    "full_finetune ": ("method.lr=0.01", 0.80, 801),  # the best test mean: not the tuned pick
}


def write_run(root: Path, method: str, variant: str, seed: int, val: float, right: int, examples: int = N) -> Path:
    """A completed run's results.json and predictions_test.jsonl, shaped like ptlab-train's."""
    run_dir = root / "sweep" / "gpt2" / "sst2" / method / f"seed{seed}" / variant
    run_dir.mkdir(parents=True)
    correct = [i < right or (seed == 1 and i == examples - 1) for i in range(examples)]  # seed 1: one more
    rows = [
        {
            "prompt": f"Review: film {i}\nSentiment:",
            "gold": "positive" if i % 2 else "negative",
            "scores": {"negative": -1.0, "positive": -2.0},
            "predicted": ("positive" if i % 2 else "negative") if ok else ("negative" if i % 2 else "positive"),
            "example_scores": {"accuracy": float(ok), "accuracy_norm": float(ok)},
        }
        for i, ok in enumerate(correct)
    ]
    (run_dir / "predictions_test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    test = {"accuracy": sum(correct) / examples, "macro_f1": sum(correct) / examples - 0.01}
    record = {
        "schema_version": 3,
        "status": "completed",
        "name": "sweep",
        "model": "gpt2",
        "method": method,
        "task": "sst2",
        "seed": seed,
        "family": "causal",
        "overrides": [f"method={method}", "task=sst2", f"seed={seed}", *filter(None, [variant])],
        "params": {"trainable": 10, "total": 100, "trainable_fraction": 0.1},
        "main_metric": "accuracy",
        "metrics": {"val_final": {"accuracy": val}, "val_best": {"accuracy": val + 0.002 * seed}, "test": test},
        "memory": {"peak_memory_bytes": 1e9, "memory_kind": "cpu_peak_rss"},
        "time": {"train_seconds": 1.0},
        "finished_at": "2026-11-29T06:00:00+00:00",
    }
    (run_dir / "results.json").write_text(json.dumps(record))
    return run_dir


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for column, (variant, val, right) in COLUMNS.items():
        for seed in (0, 1):
            write_run(root, column.strip(), variant, seed, val, right)
    write_run(root, "in_context", "", 0, 0.6, 600, examples=N - 1)  # cannot be paired
    text, written = report([root], root / "out", None, "test")
    return root, text, written


def test_cells_show_the_t_interval_and_the_not_significant_mark(built):
    _, text, _ = built
    row = rows_of(text, "| model | task (metric) |")[0]
    seeds = [0.799, 0.800]
    lo, hi = t_interval(seeds)
    mean, std = 100 * statistics.mean(seeds), 100 * statistics.stdev(seeds)
    assert row["prompt_tuning"] == f"{mean:.1f} ± {std:.1f} [{100 * lo:.1f}, {100 * hi:.1f}] (n=2) ≈"
    assert row["lora"].endswith("(n=2) ≈")  # 1 example in 1,000 below the best: not significant
    assert row["full_finetune [method.lr=0.01]"].endswith("(n=2)")  # the best: no mark
    assert row["zero_shot"].endswith("(n=2)") and row["full_finetune [method.lr=0.001]"].endswith("(n=2)")
    assert row["in_context"] == f"{100 * 600 / 999:.1f} (n=1)"  # untested, so unmarked, and said why below
    assert (
        "- n/a (gpt2/sst2/in_context vs best): 999 examples vs 1000 in full_finetune [method.lr=0.01]: "
        "not the same examples"
    ) in text


def test_significance_section_lists_deltas_against_best_and_zero_shot(built):
    root, text, _ = built
    sig = {r["method"]: r for r in rows_of(text, "| model | task | method | cell |")}
    lora = paired_bootstrap(*_seed_means(["lora", "full_finetune [method.lr=0.01]"]))
    assert (
        sig["lora"]["Δ vs best [95% CI]"] == f"{100 * lora.delta:+.1f} [{100 * lora.low:+.1f}, {100 * lora.high:+.1f}]"
    )
    assert float(sig["lora"]["p vs best"]) > 0.05 and sig["zero_shot"]["p vs best"] == "<0.001"
    assert sig["lora"]["p vs zero-shot"] == "<0.001"
    assert sig["full_finetune [method.lr=0.01]"]["Δ vs best [95% CI]"] == "–"
    assert (
        sig["lora"]["Δ vs zero-shot [95% CI]"].startswith("+10.0 [")
        and sig["zero_shot"]["Δ vs zero-shot [95% CI]"] == "–"
    )
    assert "- gpt2/sst2: best = full_finetune [method.lr=0.01], zero-shot = zero_shot, 1000 examples" in text
    csv = {r["method"]: r for r in pd.read_csv(root / "out" / "report.csv").to_dict("records")}
    assert csv["lora"]["p_vs_best"] == pytest.approx(lora.p) and csv["lora"]["delta_vs_best"] == pytest.approx(-0.001)
    assert csv["in_context"]["untested_vs_best"].startswith("999 examples vs 1000")


def _seed_means(columns: List[str]) -> List[np.ndarray]:
    """Each column's per-example accuracy averaged over its two seeds, from COLUMNS directly."""
    by_name = {k.strip() + (f" [{v[0]}]" if v[0] else ""): v[2] for k, v in COLUMNS.items()}
    seeds = [np.arange(N) < by_name[c] for c in columns]
    return [np.mean([right, right | (np.arange(N) == N - 1)], axis=0) for right in seeds]


def test_tuned_table_picks_on_validation_never_on_the_reported_split(built):
    root, text, written = built
    assert "## Tuned: best configuration per method, chosen on validation, reported on test" in text
    tuned = {r["method"]: r for r in rows_of(text, "| model | task (metric) | method | chosen variant |")}
    assert tuned["full_finetune"]["chosen variant"] == "method.lr=0.001"  # val 90.0 > 80.0, test 75.0 < 80.1
    assert tuned["full_finetune"]["val_best (selection)"] == "90.1" and tuned["full_finetune"]["variants"] == "2"
    assert tuned["full_finetune"]["reported"].startswith("75.0 ± 0.1 [") and not tuned["full_finetune"][
        "reported"
    ].endswith("≈")
    assert tuned["lora"]["chosen variant"] == "(default)" and not tuned["lora"]["reported"].endswith("≈")  # best pick
    assert tuned["prompt_tuning"]["reported"].endswith("≈") and float(tuned["prompt_tuning"]["p vs best pick"]) > 0.05
    assert tuned["full_finetune"]["p vs best pick"] == "<0.001" and tuned["lora"]["p vs best pick"] == "–"
    assert "- gpt2/sst2: best = lora, zero-shot = zero_shot, 1000 examples" in text  # among the picks
    csv = (root / "out" / "tuned.csv").read_text().splitlines()
    assert root / "out" / "tuned.csv" in written and len(csv) == 1 + 5  # a pick per method
    assert any(line.startswith("gpt2,sst2,full_finetune,method.lr=0.001,2,") for line in csv)


def test_the_pareto_view_shows_each_tuned_method_at_its_pick_only(built):
    """One point per method: full_finetune's pick (lr=0.001, chosen on validation) and not the
    rate it was also tried at; methods with one configuration keep theirs."""
    root, _, _ = built
    runs, _, _ = gather([root], "test", None)
    points = pareto_points(only_picks(runs, tuned(runs)), "sst2")
    assert sorted(points["column"]) == [
        "full_finetune [method.lr=0.001]",
        "in_context",
        "lora",
        "prompt_tuning",
        "zero_shot",
    ]
    assert len(pareto_points(runs, "sst2")) == 6  # without the picks, every configuration tried
    assert only_picks(runs, tuned(runs.iloc[:0])).equals(runs)  # nothing tuned: nothing left out


def test_tuning_on_seed_0_then_running_the_pick_with_more_seeds_compares_variants_on_seed_0(tmp_path):
    # lr=0.1 wins on seed 0 (85 vs 80); lr=0.01's extra seeds (99) must not decide the pick
    write_run(tmp_path, "lora", "method.lr=0.1", 0, 0.85, 16, examples=20)
    for seed, val in ((0, 0.80), (1, 0.99), (2, 0.99)):
        write_run(tmp_path, "lora", "method.lr=0.01", seed, val, 16, examples=20)
    text, _ = report([tmp_path], tmp_path / "out", None, "test")
    (pick,) = rows_of(text, "| model | task (metric) | method | chosen variant |")
    assert pick["chosen variant"] == "method.lr=0.1" and pick["val_best (selection)"] == "85.0"


def test_default_split_is_test_and_without_test_metrics_is_one_error_line(tmp_path, capsys):
    run_dir = write_run(tmp_path, "lora", "", 0, 0.8, 16, examples=20)
    main([str(tmp_path), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert "reported: test (`metrics.test` of results.json)" in out and "selected on: validation" in out
    record = json.loads((run_dir / "results.json").read_text())
    (run_dir / "results.json").write_text(json.dumps({**record, "metrics": {**record["metrics"], "test": None}}))
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.splitlines()) == 1 and "--split val" in err
    main([str(tmp_path), "--out", str(tmp_path / "out"), "--split", "val"])
    assert "| 80.0 (n=1) |" in capsys.readouterr().out
