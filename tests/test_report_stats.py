"""ptlab-report's uncertainty: the paired bootstrap and the t-interval against known answers, the
kinds' per-example scores against their metrics, and a report (the CLI) built from run dirs written
here (results.json + predictions_test.jsonl as ptlab-train writes them) whose verdicts and tuned
picks are known by construction: the reference and the pick follow validation even where another
variant tests better, and a pick is reported without the seed it was chosen on.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ptlab.report.cli import main, report
from ptlab.report.gather import gather
from ptlab.report.pareto import pareto_points
from ptlab.report.stats import fresh_picks, only_picks, paired_bootstrap, t_interval, tuned
from test_report import report as cli_report
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
    from ptlab.run.build import build_run
    from ptlab.scoring.metrics import TaskMetrics

    data, module = build_run(compose_run("model=tiny-llama", "method=zero_shot", *overrides))
    batch = next(iter(data.val_dataloader()))
    with torch.no_grad():
        out, rows = module.kind.evaluate(module.reader, module.model.eval(), batch, None)
    metrics = TaskMetrics(module.kind, lm_head=True)
    metrics.update(out)
    return rows, metrics.compute()


@pytest.mark.slow
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


# --- a report from constructed run dirs: gpt2 x sst2, 1,000 test examples. A run is right on the
# first `right` examples (write_run: seed 1 on one more). column: (method, variant, val, {seed: right})
COLUMNS = {
    "zero_shot": ("zero_shot", "", 0.70, {0: 700, 1: 700}),  # 5 points below the reference: worse
    "in_context": ("in_context", "", 0.75, {0: 650, 1: 800, 2: 950}),  # +5 on average, seeds 15 apart
    "prompt_tuning": ("prompt_tuning", "", 0.78, {0: 800, 1: 800}),  # +5: better
    "prefix_tuning": ("prefix_tuning", "", 0.76, {0: 751, 1: 750, 2: 750}),  # level with the reference
    "full_finetune [method.lr=0.001]": ("full_finetune", "method.lr=0.001", 0.90, {0: 750, 1: 750, 2: 750}),
    "full_finetune [method.lr=0.01]": ("full_finetune", "method.lr=0.01", 0.80, {0: 850}),  # tuning seed only
}
# The reference: full_finetune at 0.001, the best validation score, though at 0.01 it tests best;
# and the tuned pick (variants compared on seed 0, their shared seed), reported on seeds 1 and 2.


def accuracy(column: str, seed: int) -> float:
    return (COLUMNS[column][3][seed] + (seed == 1)) / N


REFERENCE_MEAN = statistics.mean(accuracy("full_finetune [method.lr=0.001]", s) for s in (0, 1, 2))


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
    for method, variant, val, rights in COLUMNS.values():
        for seed, right in rights.items():
            write_run(root, method, variant, seed, val, right)
    result = cli_report(str(root), "--out", str(root / "out"), "--split", "test", "--margin", "1")
    assert result.returncode == 0, result.stderr
    return root, result.stdout


@pytest.mark.slow
def test_cells_are_marked_against_the_reference_chosen_on_validation(built):
    _, text = built
    row = rows_of(text, "| model | task (metric) |")[0]
    seeds = [accuracy("prompt_tuning", s) for s in (0, 1)]
    lo, hi = t_interval(seeds)
    mean, std = 100 * statistics.mean(seeds), 100 * statistics.stdev(seeds)
    assert row["prompt_tuning"] == f"{mean:.1f} ± {std:.1f} [{100 * lo:.1f}, {100 * hi:.1f}] (n=2) ↑"
    assert row["full_finetune [method.lr=0.001]"].endswith("(n=3) (ref)")  # best on validation, not on test
    assert row["full_finetune [method.lr=0.01]"].endswith("(n=1) ↑")  # tests best: not the reference
    assert row["zero_shot"].endswith(" ↓") and row["prefix_tuning"].endswith(" ≡")
    assert row["in_context"].endswith("(n=3) ?")  # +5 on average, but its seeds are 15 points apart


def test_significance_counts_seeds_and_keeps_the_examples_only_test_beside(built):
    root, text = built
    sig = {(r["method"], r["vs"]): r for r in rows_of(text, "| model | task | method | cell | vs |")}
    zero = sig[("zero_shot", "reference")]
    delta = 100 * (statistics.mean(accuracy("zero_shot", s) for s in (0, 1)) - REFERENCE_MEAN)
    assert zero["Δ [95% CI]"].startswith(f"{delta:+.1f} [") and zero["verdict"] == "worse"
    assert zero["seeds"] == "2 vs 3"
    icl = sig[("in_context", "reference")]
    assert icl["verdict"] == "inconclusive" and float(icl["p"]) > 0.05
    assert icl["examples only: p"] == "<0.001"  # conditional on these three models it looks certain
    assert sig[("prefix_tuning", "reference")]["verdict"] == "equivalent (±1)"
    single = sig[("full_finetune [method.lr=0.01]", "reference")]
    assert single["seeds"] == "1 vs 3: 1 seed, training variance not covered" and single["verdict"] == "better"
    assert sig[("prompt_tuning", "zero-shot")]["verdict"] == "better"
    assert ("full_finetune [method.lr=0.001]", "reference") not in sig  # the reference itself
    assert "- gpt2/sst2: reference = full_finetune [method.lr=0.001], zero-shot = zero_shot, 1000 examples" in text
    # Holm over the row's comparisons (both kinds), from the raw p in report.csv, by hand
    csv = pd.read_csv(root / "out" / "report.csv")
    raw = [(p, h) for v in ("reference", "zero_shot") for p, h in zip(csv[f"p_vs_{v}"], csv[f"p_holm_vs_{v}"])]
    raw = [(p, h) for p, h in raw if not math.isnan(p)]
    ordered = sorted(raw)
    for i, (p, adjusted) in enumerate(ordered):
        hand = min(1.0, max((len(raw) - k) * ordered[k][0] for k in range(i + 1)))
        assert adjusted == pytest.approx(hand, rel=1e-9)
    assert len(raw) == 10 and (csv["verdict_vs_reference"] == "inconclusive").sum() == 1


def test_tuned_table_reports_each_pick_over_the_seeds_that_did_not_choose_it(built):
    root, text = built
    assert "## Tuned: best configuration per method, chosen on validation, reported on test" in text
    tuned = {r["method"]: r for r in rows_of(text, "| model | task (metric) | method | chosen variant |")}
    pick = tuned["full_finetune"]
    assert pick["chosen variant"] == "method.lr=0.001"  # val 90.0 > 80.0 on seed 0; test 75.0 < 85.0
    assert pick["val_best (selection)"] == "90.0" and pick["variants"] == "2" and pick["tuned on seeds"] == "0"
    fresh = [accuracy("full_finetune [method.lr=0.001]", s) for s in (1, 2)]  # not seed 0
    assert pick["reported (fresh seeds)"].startswith(f"{100 * statistics.mean(fresh):.1f} ± ")
    assert pick["reported (fresh seeds)"].endswith("(n=2) (ref)")  # the best fresh validation score
    assert tuned["prompt_tuning"]["tuned on seeds"] == "–"  # one variant: no choice, every seed fresh
    assert tuned["zero_shot"]["verdict"] == "worse" and tuned["zero_shot"]["p (Holm)"] == "<0.001"
    warning = next(line for line in text.splitlines() if line.startswith("- warning: fewer than 5 fresh seeds"))
    assert "gpt2/sst2/full_finetune [method.lr=0.001] (n=2)" in warning and "gpt2/sst2/in_context (n=3)" in warning
    csv = pd.read_csv(root / "out" / "tuned.csv")
    row = csv[csv["method"] == "full_finetune"].iloc[0]
    assert row["tuning_seeds"] == 0 and row["n"] == 2 and row["mean"] == pytest.approx(statistics.mean(fresh))


def test_a_pick_run_on_its_tuning_seed_only_has_no_fresh_cell(tmp_path):
    write_run(tmp_path, "lora", "method.lr=0.1", 0, 0.85, 16, examples=20)
    write_run(tmp_path, "lora", "method.lr=0.01", 0, 0.80, 16, examples=20)
    text, _ = report([tmp_path], tmp_path / "out", None, "test")
    (pick,) = rows_of(text, "| model | task (metric) | method | chosen variant |")
    assert pick["reported (fresh seeds)"] == "no fresh seed (seed 0 chose it)"


def test_columns_on_other_examples_are_not_paired(tmp_path):
    write_run(tmp_path, "zero_shot", "", 0, 0.6, 12, examples=20)
    write_run(tmp_path, "in_context", "", 0, 0.7, 12, examples=19)
    text, _ = report([tmp_path], tmp_path / "out", None, "test")
    assert "- n/a (gpt2/sst2/zero_shot vs reference): 20 examples vs 19 in in_context: not the same examples" in text


def test_the_pareto_view_shows_each_tuned_method_at_its_pick_only(built):
    """One point per method: full_finetune's pick (lr=0.001, chosen on validation) and not the
    rate it was also tried at; methods with one configuration keep theirs."""
    root, _ = built
    runs, _, _ = gather([root], "test", None)
    points = pareto_points(only_picks(runs, tuned(runs)), "sst2")
    assert sorted(points["column"]) == sorted(c for c in COLUMNS if c != "full_finetune [method.lr=0.01]")
    assert len(pareto_points(runs, "sst2")) == len(COLUMNS)  # without the picks, every configuration tried
    assert only_picks(runs, tuned(runs.iloc[:0])).equals(runs)  # nothing tuned: nothing left out


def test_the_pareto_view_plots_a_pick_over_its_fresh_seeds_as_the_tuned_table_does(tmp_path):
    """Seed 0 chose lr=0.1 (val 0.85 against 0.80), so on seed 0 the pick is the best of two tries:
    the Pareto point, like the tuned table's cell, averages seeds 1-2 only."""
    write_run(tmp_path, "lora", "method.lr=0.1", 0, 0.85, 16, examples=20)
    write_run(tmp_path, "lora", "method.lr=0.01", 0, 0.80, 16, examples=20)
    for seed in (1, 2):
        write_run(tmp_path, "lora", "method.lr=0.1", seed, 0.70, 10, examples=20)
    runs, _, _ = gather([tmp_path], "test", None)
    picks = tuned(runs)
    points = pareto_points(fresh_picks(runs, picks), "sst2")  # what write_plots draws
    (point,) = points.itertuples()
    assert (point.column, point.n) == ("lora [method.lr=0.1]", 2)
    _, written = report([tmp_path], tmp_path / "out", None, "test")
    assert tmp_path / "out" / "sst2_pareto.png" in written


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


def test_the_margin_decides_what_reads_equivalent(tmp_path, capsys):
    """Two columns 0.1 point apart on 1,000 examples, 3 seeds each: level within ±1 point, not
    shown to be within ±0.05; a margin that is no positive number is one error line."""
    for method, val, rights in (("lora", 0.8, (800, 801, 799)), ("prompt_tuning", 0.7, (801, 802, 800))):
        for seed, right in enumerate(rights):
            write_run(tmp_path, method, "", seed, val, right)
    verdicts = {}
    for margin in ("1", "0.05"):
        main([str(tmp_path), "--out", str(tmp_path / "out"), "--margin", margin])
        (row,) = rows_of(capsys.readouterr().out, "| model | task | method | cell | vs |")
        verdicts[margin] = row["verdict"]
    assert verdicts == {"1": "equivalent (±1)", "0.05": "inconclusive"}
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path), "--out", str(tmp_path / "out"), "--margin", "0"])
    assert exit_.value.code == 2 and "--margin 0.0 must be a positive number" in capsys.readouterr().err


def test_variants_without_a_validation_score_for_the_metric_tune_nothing(tmp_path, capsys):
    """A metric only the test split records (a calibrated score of a classifier-head model): the
    rates tried cannot be told apart on validation, so no pick is made and the report still runs."""
    for variant in ("method.lr=0.1", "method.lr=0.01"):
        run_dir = write_run(tmp_path, "lora", variant, 0, 0.8, 16, examples=20)
        record = json.loads((run_dir / "results.json").read_text())
        record["metrics"]["test"]["accuracy_calibrated"] = 0.7
        (run_dir / "results.json").write_text(json.dumps(record))
    main([str(tmp_path), "--out", str(tmp_path / "out"), "--metric", "accuracy_calibrated"])
    out = capsys.readouterr().out
    assert "| chosen variant |" not in out and "70.0" in out
