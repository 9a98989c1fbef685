"""Baselines beside every score (issue 24, item 8): results.json carries, per evaluated split, what
the split's own most frequent answer and the training majority score on the task's own metrics,
and a run whose predictions collapse to one answer or fall below the split's majority says so in
one console line. The constants' numbers are checked against hand counts of the real data files.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from typing import Optional

import pytest

from cli import REAL_DATA, ptlab_ok, record, run_dirs
from ptlab.scoring.baselines import collapsed_to, scored, worse
from ptlab.run.record import SCHEMA_VERSION
from ptlab.report.baselines import COLUMN, LEGEND
from test_metric_direction import lengths_task, with_plugins
from test_report import SEEDS, mean_std, report, score, table_of, write_run
from ptlab.data.sources import load_split
from ptlab.kinds import kind_of

# An untrained tiny BERT at BERT's own init range maps every input to one [CLS] vector
# (conf/model/tiny-bert.yaml), so its random head answers one class for every review: a run that
# learned nothing. Four training examples per class: the training majority is a tie, the first class.
COLLAPSING = (
    "model=tiny-bert",
    "method=full_finetune",
    "task=sst2",
    "data.k_per_class=4",
    "data.eval_limit=8",
    "trainer.max_steps=0",
    "model.random_config.initializer_range=0.02",
)


def _binary_scores(count: int, total: int) -> dict:
    """Accuracy and macro-F1 of answering one class of two every time, `count` of `total` being it:
    its F1 is 2p/(p+1) (precision p, recall 1), the other class's 0."""
    p = count / total
    return {"accuracy": p, "macro_f1": p / (p + 1)}


def _metrics(found: dict, names) -> dict:
    return {name: found["metrics"][name] for name in names}


@pytest.mark.slow
def test_a_collapsed_sst2_run_warns_once_and_records_hand_counted_baselines(tmp_path, cli_cache):
    proc = ptlab_ok(*COLLAPSING, log_dir=tmp_path / "runs", cache=cli_cache)
    [run_dir] = run_dirs(tmp_path / "runs")
    results = record(run_dir)
    baselines = results["baselines"]
    assert list(baselines) == ["validation", "test"]

    # test is SST-2's dev.tsv, whole: its majority and the training tie's class, counted here
    with open(REAL_DATA / "sst2" / "dev.tsv", newline="") as file:
        labels = Counter(row["label"] for row in csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE))
    total = sum(labels.values())
    (major, major_count), (minor, minor_count) = labels.most_common()
    names = {"0": "negative", "1": "positive"}
    test = baselines["test"]
    assert (test["split_majority"]["answer"], test["split_majority"]["count"], test["split_majority"]["of"]) == (
        names[major],
        major_count,
        total,
    )
    assert _metrics(test["split_majority"], ["accuracy", "macro_f1"]) == pytest.approx(
        _binary_scores(major_count, total)
    )
    assert (test["train_majority"]["answer"], test["train_majority"]["count"], test["train_majority"]["of"]) == (
        "negative",
        4,
        8,
    )
    assert _metrics(test["train_majority"], ["accuracy", "macro_f1"]) == pytest.approx(
        _binary_scores(labels["0"], total)
    )

    # validation: the 8 examples the run scored (their gold, as written beside the predictions)
    rows = [json.loads(line) for line in (run_dir / "predictions_val.jsonl").read_text().splitlines()]
    [(answer, count)] = Counter(row["gold"] for row in rows).most_common(1)
    majority = baselines["validation"]["split_majority"]
    assert (majority["answer"], majority["count"], majority["of"]) == (answer, count, 8)
    assert majority["metrics"]["accuracy"] == pytest.approx(count / 8)

    # every prediction is one class; each split says so, and so does one console line
    for split, key in (("validation", "val"), ("test", "test")):
        predicted = {json.loads(line)["predicted"] for line in (run_dir / f"predictions_{key}.jsonl").open()}
        assert len(predicted) == 1 and baselines[split]["collapsed_to"] == predicted.pop()
    one = baselines["test"]["collapsed_to"]  # so the run's accuracy is that class's share, below the majority's
    share = labels["0" if one == "negative" else "1"] / total
    assert results["metrics"]["test"]["accuracy"] == pytest.approx(share)
    assert baselines["test"]["below_baseline"] == (one != names[major])
    [warning] = [line for line in (proc.stdout + proc.stderr).splitlines() if "warning" in line]
    assert warning.startswith("ptlab: warning: the run may have learned nothing: validation: every prediction is ")
    assert "; test: every prediction is " in warning
    if baselines["test"]["below_baseline"]:
        assert f"worse than the {major_count / total:.4f} of always answering '{names[major]}'" in warning


@pytest.mark.slow
def test_a_lower_is_better_run_worse_than_its_constant_warns_and_the_report_marks_it(tmp_path):
    """The test-only regression kind (MSE, lower is better) adds its constant by one method of its
    own module, as a newcomer would; an untrained head, far off the targets, scores worse (higher)."""
    conf, data = lengths_task(tmp_path)
    run = ["ptlab.train", f"--config-dir={conf}", "model=tiny-bert", "method=full_finetune", "task=lengths"]
    proc = with_plugins(*run, "trainer.max_steps=0", log_dir=tmp_path / "runs", cache=tmp_path / "cache", data=data)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [run_dir] = run_dirs(tmp_path / "runs")
    results = record(run_dir)

    targets = [json.loads(line)["y"] for line in (data / "lengths" / "test.jsonl").read_text().splitlines()]
    [(mode, count)] = Counter(targets).most_common(1)
    majority = results["baselines"]["test"]["split_majority"]
    assert (majority["answer"], majority["count"], majority["of"]) == (mode, count, len(targets))
    assert majority["metrics"]["mse"] == pytest.approx(sum((y - mode) ** 2 for y in targets) / len(targets))
    assert results["metrics"]["test"]["mse"] > majority["metrics"]["mse"]  # worse: higher
    assert results["baselines"]["test"]["below_baseline"] is True
    [warning] = [line for line in proc.stdout.splitlines() if line.startswith("ptlab: warning:")]
    assert "test: mse " in warning and f"always answering {mode!r}" in warning

    report_proc = with_plugins(
        "ptlab.report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"),
        log_dir=tmp_path / "runs", cache=tmp_path / "cache", data=data,
    )  # fmt: skip
    assert report_proc.returncode == 0, report_proc.stderr
    [row] = table_of((tmp_path / "out" / "report.md").read_text()).values()
    [cell] = [text for column, text in row.items() if column.startswith("full_finetune")]
    assert cell.endswith("(n=1, 1 below baseline)")
    assert row[COLUMN].startswith(f"{majority['metrics']['mse']:.1f} (")  # MSE as recorded, never x100


# --- each kind's constant answer, on real data, scored by the task's own metrics ---
def test_multiple_choice_constant_is_the_most_frequent_position(compose_run, data_dir):
    kind = kind_of(compose_run("model=tiny-bert", "method=full_finetune", "task=copa").task)
    examples = load_split(kind.task, "test", "local", data_dir)[:20]
    positions = Counter(ex.label for ex in examples)
    [(position, count)] = positions.most_common(1)
    found = scored(kind, False, examples, examples)
    assert (found["answer"], found["count"], found["of"]) == (position, count, 20)
    assert found["metrics"]["accuracy"] == pytest.approx(count / 20)


def test_token_classification_constant_is_all_o(compose_run, data_dir):
    kind = kind_of(compose_run("model=tiny-bert", "method=full_finetune", "task=conll2003").task)
    examples = load_split(kind.task, "validation", "local", data_dir)[:30]
    tags = [kind.task.tags[t] for ex in examples for t in ex.tags]
    found = scored(kind, False, examples, examples)
    assert (found["answer"], found["count"], found["of"]) == ("O", tags.count("O"), len(tags))
    assert found["metrics"]["entity_f1"] == 0.0 and found["metrics"]["entity_recall"] == 0.0
    assert found["metrics"]["token_accuracy"] == pytest.approx(tags.count("O") / len(tags))


def test_generation_constant_is_the_most_frequent_answer(compose_run, data_dir):
    kind = kind_of(compose_run("model=tiny-llama", "method=zero_shot", "task=squad").task)
    examples = kind.eval_examples(load_split(kind.task, "validation", "local", data_dir))[:200]
    [(answer, count)] = Counter(ex.references[0] for ex in examples).most_common(1)
    found = scored(kind, True, examples, examples)
    assert (found["answer"], found["count"], found["of"]) == (answer, count, 200)
    assert count > 1  # a repeated answer, so the constant is not an arbitrary text
    exact = sum(answer in ex.references for ex in examples) / 200
    assert found["metrics"]["exact_match"] == pytest.approx(exact)


# --- the checks ---
def test_collapse_needs_one_predicted_answer_where_the_gold_has_several():
    one = [{"gold": "a", "predicted": "a"}, {"gold": "b", "predicted": "a"}]
    assert collapsed_to(one) == "a"
    assert collapsed_to([{"gold": "a", "predicted": "a"}, {"gold": "b", "predicted": "b"}]) is None
    assert collapsed_to([{"gold": "a", "predicted": "a"}, {"gold": "a", "predicted": "a"}]) is None  # gold is one
    tags = [{"gold": ["B-PER", "O"], "predicted": ["O", "O"]}, {"gold": ["O"], "predicted": ["O"]}]
    assert collapsed_to(tags) == "O"  # a sentence's tags count one by one
    texts = [{"references": ["x", "y"], "predicted": ""}, {"references": ["z"], "predicted": ""}]
    assert collapsed_to(texts) == ""


def test_below_goes_the_metric_s_way():
    assert worse(0.4, 0.5, higher_is_better=True) and not worse(0.5, 0.5, higher_is_better=True)
    assert worse(12.0, 11.5, higher_is_better=False) and not worse(11.0, 11.5, higher_is_better=False)


# --- the report ---
def _with_baselines(run_dir, accuracy: float, train: float, collapsed: Optional[str]) -> None:
    """Give a constructed record the `baselines` ptlab-train writes (schema_version 4) for validation."""
    path = run_dir / "results.json"
    saved = json.loads(path.read_text())
    constant = {"answer": "positive", "count": 110, "of": 200}
    saved["baselines"] = {
        "validation": {
            "split_majority": {**constant, "metrics": {"accuracy": accuracy, "macro_f1": 0.35}},
            "train_majority": {**constant, "count": 140, "of": 256, "metrics": {"accuracy": train, "macro_f1": 0.3}},
            "collapsed_to": collapsed,
            "below_baseline": None,  # the report compares itself, on the metric it shows
        }
    }
    path.write_text(json.dumps({**saved, "schema_version": SCHEMA_VERSION}))


@pytest.mark.slow
def test_the_report_shows_the_baseline_column_and_marks_collapsed_and_below_baseline_runs(tmp_path):
    for seed in SEEDS:
        zero = write_run(tmp_path, "gpt2", "sst2", "zero_shot", seed)  # scores 0.50 to 0.54: all below 0.55
        _with_baselines(zero, 0.55, 0.45, "negative" if seed == 0 else None)
        _with_baselines(write_run(tmp_path, "gpt2", "sst2", "prompt_tuning", seed), 0.55, 0.45, None)
        write_run(tmp_path, "gpt2", "sst2", "lora", seed)  # an older record: no baselines, no counts
    assert [score("gpt2", "sst2", "zero_shot", seed) < 0.55 for seed in SEEDS] == [True, True, False]
    result = report(str(tmp_path), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    md = (tmp_path / "out" / "report.md").read_text()
    row = table_of(md)[("gpt2", "sst2 (accuracy)")]
    assert row[COLUMN] == "55.0 (45.0)"
    assert row["zero_shot"].startswith(
        f"{mean_std('gpt2', 'sst2', 'zero_shot', SEEDS)} (n=3, 1 collapsed, 2 below baseline)"
    )
    assert row["prompt_tuning"].startswith(f"{mean_std('gpt2', 'sst2', 'prompt_tuning', SEEDS)} (n=3)")
    assert row["lora"].startswith(f"{mean_std('gpt2', 'sst2', 'lora', SEEDS)} (n=3)")
    assert LEGEND in md
    with open(tmp_path / "out" / "report.csv", newline="") as file:
        cells = {r["method"]: r for r in csv.DictReader(file)}
    assert (cells["zero_shot"]["n_collapsed"], cells["zero_shot"]["n_below"]) == ("1", "2")
    assert [float(cells["zero_shot"][k]) for k in ("baseline", "train_baseline")] == pytest.approx([0.55, 0.45])
    assert COLUMN.replace("_", r"\_") in (tmp_path / "out" / "report.tex").read_text()


def test_a_report_of_records_without_baselines_has_no_baseline_column(tmp_path):
    for seed in SEEDS:
        write_run(tmp_path, "gpt2", "sst2", "zero_shot", seed)
    result = report(str(tmp_path), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    md = (tmp_path / "out" / "report.md").read_text()
    assert list(table_of(md)[("gpt2", "sst2 (accuracy)")]) == ["zero_shot"] and LEGEND not in md
