"""A lower-is-better metric, end to end through the real CLI (issue 23, item 7): every place that picks
a best reads the metric's direction, and numbers are shown on the metric's own scale.

The kind is a newcomer's regression kind (tests/plugin_kinds/regression.py: `mse`, lower is better,
unbounded), found on the `ptlab.kinds` package path as a module of ptlab/kinds/ would be
(tests/with_plugin_kinds.py), on a constructed task: a number (8 + the word count) read from a text.
One grid sweep of three learning rates feeds the console, report, LaTeX and Pareto checks.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cli import PROCESS_TIMEOUT, ptlab_env, record, run_dirs
from test_report import rows_of, table_of

HERE = Path(__file__).resolve().parent
WITH_PLUGINS = [sys.executable, str(HERE / "with_plugin_kinds.py")]
TASK = """\
name: lengths
kind: regression
local: {dir: lengths, format: jsonl, files: {train: train.jsonl, validation: val.jsonl, test: test.jsonl}}
columns: {text: text, target: y}
template: "{text}"
metrics: [mse]
main_metric: mse
max_source_length: 32
"""
WORDS = "red green blue cat dog sun moon tree".split()
RUN = ("model=tiny-bert", "method=full_finetune", "task=lengths", "debug=smoke")
GRID = "method.lr_grid=[1e-3,1e-2,5e-2]"


def lengths_task(root: Path) -> tuple:
    """(the --config-dir, the data dir) of the `lengths` task: y = 8 + the number of words."""
    (root / "conf" / "task").mkdir(parents=True)
    (root / "conf" / "task" / "lengths.yaml").write_text(TASK)
    (root / "data" / "lengths").mkdir(parents=True)
    for split, n in (("train", 48), ("val", 16), ("test", 16)):
        rows = []
        for i in range(n):
            k = 1 + (7 * i + len(split)) % 6
            text = " ".join(WORDS[(i + j) % len(WORDS)] for j in range(k))
            rows.append({"text": f"{text} {split}{i}", "y": 8.0 + k})
        (root / "data" / "lengths" / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root / "conf", root / "data"


def with_plugins(*args: str, log_dir: Path, cache: Path, data: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*WITH_PLUGINS, *args], env={**ptlab_env(log_dir, cache), "PTLAB_DATA_DIR": str(data)},
        cwd=log_dir.parent, capture_output=True, text=True, timeout=PROCESS_TIMEOUT,
    )  # fmt: skip


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """hparams_search=grid over three rates, seed 0: (its stdout, the sweep dir, the runs' records,
    the tmp root, the --config-dir, the data dir)."""
    root = tmp_path_factory.mktemp("direction")
    conf, data = lengths_task(root)
    args = ["ptlab.train", "-m", f"--config-dir={conf}", *RUN, "hparams_search=grid", GRID, "name=grid"]
    proc = with_plugins(*args, log_dir=root / "runs", cache=root / "cache", data=data)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [record(run) for run in run_dirs(root / "runs")]
    assert len(records) == 3 and all(r["status"] == "completed" for r in records)
    return proc.stdout, root / "runs" / "grid", records, root, conf, data


def scores(records: list, split: str) -> dict:
    """The runs' MSE on `split` (val_best or test), by report column."""
    return {f"full_finetune [{Path(r['run_dir']).name}]": r["metrics"][split]["mse"] for r in records}


@pytest.mark.slow
def test_the_console_best_so_far_is_the_lowest_mse(sweep):
    stdout = sweep[0]
    seen, checked, discriminates = [], 0, False
    for line in stdout.splitlines():
        if line.startswith("ptlab: tiny-bert x"):
            seen = []  # the next run
        found = re.match(r"  val at step \d+/\d+: mse ([\d.]+) \(best mse so far ([\d.]+)\)", line)
        if found:
            seen.append(float(found.group(1)))
            assert float(found.group(2)) == min(seen), line
            checked += 1
            discriminates |= min(seen) != max(seen)
    assert checked == 6 and discriminates  # a run got better: the highest so far would differ


def test_the_report_picks_and_references_the_lowest_validation_mse_shown_unscaled(sweep):
    _, sweep_dir, records, *_ = sweep
    val, test = scores(records, "val_best"), scores(records, "test")
    lowest, highest = min(val, key=val.get), max(val, key=val.get)
    assert lowest != highest
    md = (sweep_dir / "report.md").read_text()
    # the tuned table picks the rate with the lowest validation MSE
    [pick] = rows_of(md, "| model | task (metric) | method | chosen variant |")
    assert f"full_finetune [{pick['chosen variant']}]" == lowest
    assert pick["task (metric)"] == "lengths (mse, lower is better)"
    assert float(pick["val_best (selection)"]) == pytest.approx(val[lowest], abs=0.05)
    # the main table: the reference column is the lowest on validation; every number as recorded
    [row] = table_of(md).values()
    assert row[lowest].endswith(" (ref)") and not row[highest].endswith(" (ref)")
    for column, mse in test.items():
        shown = row[column].split(" ")[0]
        places = len(shown.split(".")[1])
        assert places >= 1 and float(shown) == pytest.approx(mse, abs=0.51 * 10**-places), (shown, mse)
    assert "(lengths: mse as recorded, lower is better)" in md.splitlines()[2]  # the header says so
    # better / worse in the metric's direction: a lower test MSE than the reference's is better
    verdicts = rows_of(md, "| model | task | method | cell | vs |")
    assert len(verdicts) == 2
    for sig in verdicts:
        if sig["verdict"] in ("better", "worse"):
            assert (sig["verdict"] == "better") == sig["Δ [95% CI]"].startswith("-"), sig
    tex = (sweep_dir / "report.tex").read_text()
    assert "lengths (mse, lower is better)" in tex and "x100" not in tex and "×100" not in tex
    assert all(row[column].split(" ")[0] in tex for column in test)


def test_the_pareto_front_keeps_the_lowest_mse(sweep):
    """All three columns train the same parameters: the front on that cost is the lowest test MSE alone."""
    import ptlab.kinds
    from ptlab.report.gather import gather
    from ptlab.report.pareto import front_methods, pareto_points

    _, sweep_dir, records, *_ = sweep
    ptlab.kinds.__path__.append(str(HERE / "plugin_kinds"))
    ptlab.kinds.registry.cache_clear()
    try:
        runs, _, _ = gather([sweep_dir], "test", None)
    finally:
        ptlab.kinds.__path__.remove(str(HERE / "plugin_kinds"))
        ptlab.kinds.registry.cache_clear()
    points = pareto_points(runs, "lengths").set_index("column")
    test = scores(records, "test")
    assert points["quality"].to_dict() == pytest.approx(test)  # as recorded, not x100
    assert front_methods(points.reset_index(), "trainable") == {"tiny-bert": [min(test, key=test.get)]}


def test_a_report_without_the_kind_lists_its_runs_instead_of_ranking_them_upside_down(sweep):
    sweep_dir = sweep[1]
    proc = subprocess.run(
        [sys.executable, "-m", "ptlab.report", str(sweep_dir), "--out", str(sweep_dir / "plain")],
        capture_output=True, text=True, timeout=PROCESS_TIMEOUT,
    )  # fmt: skip
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "unknown task.kind='regression'" in proc.stderr
    assert "whether a higher mse is better, and its scale, are unknown" in proc.stderr


@pytest.mark.slow
def test_optuna_minimizes_a_lower_is_better_metric_and_a_failed_trial_is_the_worst(sweep):
    import optuna

    *_, root, conf, data = sweep
    log_dir = root / "study"
    args = ["ptlab.train", "-m", f"--config-dir={conf}", *RUN, "hparams_search=optuna", "name=study"]
    proc = with_plugins(
        *args, "hydra.sweeper.n_trials=1", "method.lr_range=[1e8,1e9]", log_dir=log_dir, cache=root / "cache", data=data
    )
    assert proc.returncode == 1 and "non-finite training loss" in proc.stderr, proc.stderr[-3000:]
    journal = log_dir / "study" / "optuna" / "tiny-bert-lengths-full_finetune.journal"
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    study = optuna.load_study(study_name=optuna.get_all_study_summaries(storage)[0].study_name, storage=storage)
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    assert [t.value for t in study.trials] == [math.inf]  # the worst MSE, not -inf (the best there is)


@pytest.mark.slow
def test_the_wandb_summary_keeps_the_lowest_mse(sweep, tmp_path):
    from test_wandb import by_kind

    *_, root, conf, data = sweep
    env = {**ptlab_env(tmp_path / "runs", root / "cache"), "PTLAB_DATA_DIR": str(data), "HOME": str(tmp_path)}
    for key in ("WANDB_API_KEY", "WANDB_MODE"):
        env.pop(key, None)  # offline: no key, no netrc
    proc = subprocess.run(
        [*WITH_PLUGINS, "ptlab.train", f"--config-dir={conf}", *RUN, "method.lr=5e-2", "logger=wandb"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=PROCESS_TIMEOUT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    [run] = run_dirs(tmp_path / "runs")
    [log] = run.glob("wandb/offline-run-*/run-*.wandb")
    seen = by_kind(log)
    summary = {u.key or ".".join(u.nested_key): json.loads(u.value_json) for s in seen["summary"] for u in s.update}
    assert summary["val/mse"] == {"min": pytest.approx(record(run)["metrics"]["val_best"]["mse"])}


def test_the_best_template_is_the_lowest_mse():
    from ptlab.report.templates import spread

    per = pd.DataFrame(
        {"model": "m", "task": "lengths", "setting": "lora", "template": ["a", "b", "c"], "mean": [12.0, 9.5, 30.0]}
    )
    [row] = spread(per.assign(std=0.0, n=1, higher_is_better=False)).to_dict("records")
    assert (row["best"], row["worst"], row["gap"]) == ("b", "c", 20.5)
    [row] = spread(per.assign(std=0.0, n=1, higher_is_better=True)).to_dict("records")
    assert (row["best"], row["worst"]) == ("c", "b")
