"""ptlab-report through the real CLI (`python -m ptlab.report` subprocesses, ~2-3 s each) on run
dirs built here: results.json records shaped like ptlab-train's (completed, failed, still running,
an archived earlier attempt, corrupt ones, ones with config/data fingerprints) and their
metrics.csv, spread over two "machines" as a partial sweep; the sweep-end callback in-process.
The expected cells are computed here, independently of pandas.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from ptlab.methods import report_order

from cli import PROCESS_TIMEOUT

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MODELS = ["smollm2-135m", "gpt2"]
TASKS = {"sst2": "accuracy", "rte": "macro_f1"}  # rte's main metric differs on purpose
FRACTION = {  # the fixture's methods (a report reads any): 0 evaluated as loaded, no training
    "zero_shot": 0.0,
    "in_context": 0.0,
    "prompt_tuning": 8.56e-05,
    "prefix_tuning": 8.56e-04,
    "lora": 3.42e-03,
    "full_finetune": 1.0,
}
METHODS = sorted(FRACTION, key=report_order().get)  # in the registry's order: fewest trained first
SEEDS = [0, 1, 2]
FAILED = ("gpt2", "sst2", "prefix_tuning", 2)
RUNNING = ("smollm2-135m", "rte", "prompt_tuning", 1)
MISSING = ("gpt2", "rte", "full_finetune")


def score(model: str, task: str, method: str, seed: int) -> float:
    """The main metric of one fixture run, in [0, 1], different for every seed and cell."""
    return (
        0.5
        + 0.08 * METHODS.index(method)
        + 0.03 * list(TASKS).index(task)
        + 0.02 * MODELS.index(model)
        + 0.0137 * seed
        + 0.0041 * seed**2
    )


def identity(model: str, task: str, method: str, seed: int, status: str) -> Dict:
    """The fields every results.json starts with."""
    return {
        "schema_version": 1,
        "status": status,
        "error": None,
        "name": "sweep",
        "model": model,
        "method": method,
        "task": task,
        "seed": seed,
        "family": "causal",
        "overrides": [f"method={method}", f"task={task}", f"seed={seed}"],
    }


def record(
    model: str,
    task: str,
    method: str,
    seed: int,
    status: str = "completed",
    finished_at: str = "2026-11-22T15:00:01+00:00",
) -> Dict:
    """A results.json as ptlab-train writes it (a failed or running run has only its identity)."""
    run = {
        **identity(model, task, method, seed, status),
        "run_dir": "/elsewhere/run",
        "versions": {"python": "3.11.7", "torch": "2.13.0+cpu"},
        "git": {"commit": "1d26f09", "dirty": False},
        "started_at": "2026-11-22T14:57:29+00:00",
    }
    if status == "failed":
        return {
            **run,
            "error": "OutOfMemoryError: CUDA out of memory",
            "time": {"total_seconds": 3.5},
            "finished_at": finished_at,
        }
    if status == "running":
        return run
    value = score(model, task, method, seed)
    metrics = {"accuracy": value + 0.05, "accuracy_norm": value + 0.05, "macro_f1": value - 0.05}
    metrics[TASKS[task]] = value
    trainable = int(FRACTION[method] * 134515008)
    trains = FRACTION[method] > 0
    return {
        **run,
        "params": {"trainable": trainable, "total": 134515008, "trainable_fraction": FRACTION[method]},
        "data": {"train": 256, "validation": 200},
        "main_metric": TASKS[task],
        "metrics": {"val_final": {k: v - 0.01 for k, v in metrics.items()}, "val_best": metrics, "test": None},
        "best": {"step": 40 if trains else 0, "checkpoint": "checkpoints/best.ckpt" if trains else None},
        "memory": {
            "peak_memory_bytes": 1_000_000_000 * (1 + METHODS.index(method)) + seed,
            "memory_kind": "cpu_peak_rss",
        },
        "time": {
            "train_seconds": 10.0 * METHODS.index(method) + seed,
            "train_step_seconds": 5.0,
            "eval_seconds": 17.0,
            "total_seconds": 60.0,
        },
        "throughput": {"train_tokens": 6038, "train_tokens_per_second": 100.0},
        "finished_at": finished_at,
    }


def metrics_csv(task: str, method: str, value: float) -> str:
    """Lightning's CSVLogger layout: lr, train and val rows interleaved; the best at step 19, the
    final at 39, then ptlab-train's re-validation of the best checkpoint after fit (epoch 2)."""
    main = TASKS[task]
    header = f"epoch,lr-AdamW,step,train/loss,val/{main}\n"
    if not FRACTION[method]:
        return header + f"0,,0,,{value}\n"
    return header + "".join(
        [
            ",0.004,9,,\n",
            "0,,9,0.9,\n",
            ",0.002,19,,\n",
            "0,,19,0.5,\n",
            f"0,,19,,{value}\n",
            ",0.0001,39,,\n",
            "1,,39,0.3,\n",
            f"1,,39,,{value - 0.02}\n",
            f"2,,40,,{value}\n",
        ]
    )


def write_run(
    root: Path,
    model: str,
    task: str,
    method: str,
    seed: int,
    status: str = "completed",
    finished_at: str = "2026-11-22T15:00:01+00:00",
    variant: str = "",
) -> Path:
    run_dir = root / "sweep" / model / task / method / f"seed{seed}" / variant
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "results.json").write_text(json.dumps(record(model, task, method, seed, status, finished_at), indent=2))
    if status != "running":
        (run_dir / "config.yaml").write_text(f"seed: {seed}\n")
        (run_dir / "metrics.csv").write_text(metrics_csv(task, method, score(model, task, method, seed)))
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """A partial sweep from two machines: seeds 0-1 ran on machine_a, seed 2 on machine_b."""
    root = tmp_path_factory.mktemp("runs")
    for model in MODELS:
        for task in TASKS:
            for method in METHODS:
                if (model, task, method) == MISSING:
                    continue
                for seed in SEEDS:
                    status = {FAILED: "failed", RUNNING: "running"}.get((model, task, method, seed), "completed")
                    write_run(root / ("machine_a" if seed < 2 else "machine_b"), model, task, method, seed, status)
    # an earlier failed attempt of a run that later completed: history, not a run
    attempt = root / "machine_a/sweep/smollm2-135m/sst2/full_finetune/seed0/attempts/1"
    attempt.mkdir(parents=True)
    (attempt / "results.json").write_text(json.dumps(record("smollm2-135m", "sst2", "full_finetune", 0, "failed")))
    return root


def interval(values) -> str:
    """A cell's ` [low, high]`: the 95 % Student-t interval of the mean over seeds."""
    from scipy.stats import t

    half = t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return f" [{statistics.mean(values) - half:.1f}, {statistics.mean(values) + half:.1f}]"


def report(*args: str) -> subprocess.CompletedProcess:
    """The CLI; these fixtures have no test labels (metrics.test is null), so --split val unless given."""
    args = args if "--split" in args else (*args, "--split", "val")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-m", "ptlab.report", *args], capture_output=True, text=True, env=env, timeout=PROCESS_TIMEOUT
    )


def table_of(markdown: str) -> Dict[tuple, Dict[str, str]]:
    """The main table of report.md as {(model, task): {method: cell}}."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| model | task (metric) |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    table = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        table[(cells[0], cells[1])] = dict(zip(header[2:], cells[2:]))
    return table


def expected_cell(model: str, task: str, method: str) -> Optional[str]:
    if (model, task, method) == MISSING:
        return "missing"
    seeds = [s for s in SEEDS if (model, task, method, s) not in (FAILED, RUNNING)]
    values = [100 * score(model, task, method, s) for s in seeds]
    extra = "".join(
        [
            ", 1 failed" if (model, task, method, 2) == FAILED else "",
            ", 1 incomplete" if (model, task, method, 1) == RUNNING else "",
        ]
    )
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}{interval(values)} (n={len(values)}{extra})"


@pytest.fixture(scope="module")
def full(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    result = report(str(runs), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return result, out


@pytest.mark.slow
def test_table_cells_are_mean_std_n_with_failed_incomplete_and_missing(full):
    result, out = full
    table = table_of((out / "report.md").read_text())
    assert set(table) == {(m, f"{t} ({TASKS[t]})") for m in MODELS for t in TASKS}
    for model in MODELS:
        for task, metric in TASKS.items():
            row = table[(model, f"{task} ({metric})")]
            assert list(row) == METHODS  # fewest trained parameters first
            for method in METHODS:
                assert row[method] == expected_cell(model, task, method), (model, task, method)
    assert table[("gpt2", "sst2 (accuracy)")]["prefix_tuning"].endswith("(n=2, 1 failed)")
    assert table[("smollm2-135m", "rte (macro_f1)")]["prompt_tuning"].endswith("(n=2, 1 incomplete)")
    assert table[("gpt2", "rte (macro_f1)")]["full_finetune"] == "missing"
    md = (out / "report.md").read_text()
    read = len(MODELS) * len(TASKS) * len(METHODS) * len(SEEDS) - len(SEEDS)  # one cell missing
    assert f"runs read: {read} ({read - 2} completed, 1 failed, 1 incomplete)" in md  # attempts/ not counted
    assert "| gpt2 | sst2 | zero_shot | 0 | 1.00 | cpu_peak_rss | 1.0 |" in md  # cost: %, GB, s
    assert table_of(result.stdout) == table
    assert f"ptlab-report: wrote {out / 'report.csv'}" in result.stdout


def test_csv_has_one_row_per_model_task_method(full):
    _, out = full
    rows = {(r["model"], r["task"], r["method"]): r for r in csv.DictReader((out / "report.csv").open())}
    assert len(rows) == len(MODELS) * len(TASKS) * len(METHODS)
    for (model, task, method), row in rows.items():
        assert row["cell"] == expected_cell(model, task, method)
        if (model, task, method) == MISSING:
            assert row["n"] == "0" and row["mean"] == "" and row["trainable_fraction"] == ""
            continue
        seeds = [s for s in SEEDS if (model, task, method, s) not in (FAILED, RUNNING)]
        values = [score(model, task, method, s) for s in seeds]
        assert float(row["mean"]) == pytest.approx(statistics.mean(values), abs=1e-12)
        assert float(row["std"]) == pytest.approx(statistics.stdev(values), abs=1e-12)
        assert int(row["n"]) == len(seeds)
        assert int(row["n_failed"]) == ((model, task, method, 2) == FAILED)
        assert float(row["trainable_fraction"]) == pytest.approx(FRACTION[method])
        assert float(row["peak_memory_bytes"]) == pytest.approx(
            statistics.mean(1e9 * (1 + METHODS.index(method)) + s for s in seeds)
        )
        assert float(row["train_seconds"]) == pytest.approx(
            statistics.mean(10.0 * METHODS.index(method) + s for s in seeds)
        )


def test_writes_markdown_latex_and_png_plots(full):
    _, out = full
    tex = (out / "report.tex").read_text()
    assert "\\begin{tabular}{ll" + "c" * len(METHODS) + "}" in tex and "\\end{tabular}" in tex
    assert "prefix\\_tuning" in tex and "$\\pm$" in tex and "missing" in tex
    for task in TASKS:
        for kind in ("metric_vs_params", "val_curves"):
            png = out / f"{task}_{kind}.png"
            assert png.stat().st_size > 1000 and png.read_bytes()[:8] == PNG_MAGIC, png
    # no run names a template: no prompt-sensitivity section, table or plot
    assert "Prompt sensitivity" not in (out / "report.md").read_text()
    assert not list(out.glob("prompt_sensitivity.*")) and not list(out.glob("*_templates.png"))


def test_val_curve_is_the_validations_during_training(tmp_path):
    """The re-validation of the best checkpoint after fit (logged at the next epoch) is no curve point."""
    from ptlab.report.plots import read_val_curve

    value = score("gpt2", "sst2", "prompt_tuning", 0)
    (tmp_path / "metrics.csv").write_text(metrics_csv("sst2", "prompt_tuning", value))
    curve = read_val_curve(tmp_path / "metrics.csv", "accuracy")
    assert curve.to_dict() == {19: value, 39: pytest.approx(value - 0.02)}
    (tmp_path / "zero.csv").write_text(metrics_csv("sst2", "zero_shot", value))
    assert read_val_curve(tmp_path / "zero.csv", "accuracy").to_dict() == {0: value}
    assert read_val_curve(tmp_path / "zero.csv", "macro_f1") is None
    assert read_val_curve(tmp_path / "absent.csv", "accuracy") is None


@pytest.mark.slow
def test_dirs_from_two_machines_give_the_same_table_as_their_parent(runs, full, tmp_path):
    _, parent_out = full
    result = report(str(runs / "machine_a"), str(runs / "machine_b"), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "report.csv").read_text() == (parent_out / "report.csv").read_text()
    assert table_of((tmp_path / "report.md").read_text()) == table_of((parent_out / "report.md").read_text())


@pytest.mark.slow
def test_single_seed_failed_only_test_split_and_default_out(tmp_path):
    """One seed has no ±; a cell of failed runs only says so; --out defaults to the first dir."""
    write_run(tmp_path, "smollm2-135m", "sst2", "zero_shot", 0)
    write_run(tmp_path, "smollm2-135m", "sst2", "prompt_tuning", 0, status="failed")
    result = report(str(tmp_path))
    assert result.returncode == 0, result.stderr
    row = table_of((tmp_path / "report.md").read_text())[("smollm2-135m", "sst2 (accuracy)")]
    assert row == {
        "zero_shot": f"{100 * score('smollm2-135m', 'sst2', 'zero_shot', 0):.1f} (n=1)",
        "prompt_tuning": "failed (n=1)",
    }
    assert (tmp_path / "sst2_metric_vs_params.png").read_bytes()[:8] == PNG_MAGIC

    result = report(str(tmp_path), "--split", "test", "--out", str(tmp_path / "test"))
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1  # no run has test labels
    assert "no run has test metrics" in result.stderr and "--split val" in result.stderr
    labelled = write_run(tmp_path, "gpt2", "sst2", "zero_shot", 0)  # another run that has them
    saved = json.loads((labelled / "results.json").read_text())
    saved["metrics"]["test"] = saved["metrics"]["val_best"]
    (labelled / "results.json").write_text(json.dumps(saved))
    result = report(str(tmp_path), "--split", "test", "--out", str(tmp_path / "test"))
    assert result.returncode == 0, result.stderr
    row = table_of(result.stdout)[("smollm2-135m", "sst2 (accuracy)")]
    assert row["zero_shot"] == "no test metric (n=1)"  # a task whose test labels are hidden: metrics.test is null
    shutil.rmtree(labelled.parents[2])  # gpt2 again has no run

    result = report(str(tmp_path), "--metric", "macro_f1", "--out", str(tmp_path / "f1"))
    assert result.returncode == 0, result.stderr
    expected = 100 * (score("smollm2-135m", "sst2", "zero_shot", 0) - 0.05)
    assert table_of(result.stdout)[("smollm2-135m", "sst2 (macro_f1)")]["zero_shot"] == f"{expected:.1f} (n=1)"


def test_a_run_copied_twice_counts_once_and_completed_wins(tmp_path):
    """Seed 0 failed on one machine and was re-run on another: one seed, completed, with a warning."""
    for seed in (0, 1):
        write_run(tmp_path / "a", "gpt2", "sst2", "prompt_tuning", seed)
    write_run(
        tmp_path / "b", "gpt2", "sst2", "prompt_tuning", 0, status="failed", finished_at="2026-11-23T00:00:00+00:00"
    )
    result = report(str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    values = [100 * score("gpt2", "sst2", "prompt_tuning", s) for s in (0, 1)]
    cell = f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}{interval(values)} (n=2)"
    assert table_of(result.stdout)[("gpt2", "sst2 (accuracy)")] == {"prompt_tuning": cell}
    assert "ptlab-report: warning:" in result.stderr and str(tmp_path / "b") in result.stderr


def test_other_overrides_are_a_column_of_their_own(tmp_path):
    """A sweep over method.lr puts runs in <method>/seed<n>/<overrides>/: never averaged together."""
    plain = write_run(tmp_path, "gpt2", "sst2", "prompt_tuning", 0)
    tagged = plain / "method.lr=0.1"
    tagged.mkdir()
    (tagged / "results.json").write_text((plain / "results.json").read_text())
    result = report(str(tmp_path))
    assert result.returncode == 0, result.stderr
    cell = f"{100 * score('gpt2', 'sst2', 'prompt_tuning', 0):.1f} (n=1)"
    assert table_of(result.stdout)[("gpt2", "sst2 (accuracy)")] == {
        "prompt_tuning": cell,
        "prompt_tuning [method.lr=0.1]": cell,
    }


@pytest.mark.parametrize(
    "case",
    [
        "no such dir",
        "no results",
        "malformed json",
        "not a record",
        "metric not a number",
        "out is a file",
        "unknown metric",
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(tmp_path, case):
    run_dir = write_run(tmp_path / "runs", "gpt2", "sst2", "zero_shot", 0)
    results = run_dir / "results.json"
    args: List[str] = [str(tmp_path / "runs")]
    expect = str(results)
    if case == "no such dir":
        args, expect = [str(tmp_path / "nope")], f"{tmp_path / 'nope'} does not exist"
    elif case == "no results":
        (tmp_path / "empty").mkdir()
        args, expect = [str(tmp_path / "empty")], "no results.json found"
    elif case == "malformed json":
        results.write_text('{"status": "completed", ')
    elif case == "not a record":
        results.write_text("[1, 2]")
    elif case == "metric not a number":
        broken = json.loads(results.read_text())
        broken["metrics"]["val_best"]["accuracy"] = "high"
        results.write_text(json.dumps(broken))
    elif case == "out is a file":
        (tmp_path / "taken").write_text("keep me")
        args, expect = [*args, "--out", str(tmp_path / "taken")], "is a file"
    elif case == "unknown metric":
        args, expect = [*args, "--metric", "acc"], "metric 'acc' is in no run's val metrics"
    result = report(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("ptlab-report: error:") and len(result.stderr.splitlines()) == 1
    assert expect in result.stderr and "Traceback" not in result.stderr
    if case == "out is a file":
        assert (tmp_path / "taken").read_text() == "keep me"
    assert not (tmp_path / "runs" / "report.md").exists()


@pytest.mark.slow
def test_zero_shot_on_an_encoder_is_not_applicable_not_missing(tmp_path):
    """A sweep over models x methods skips zero-shot on an encoder (no LM head): n/a, not missing."""
    for model, family, methods in (
        ("smollm2-135m", "causal", ("zero_shot", "prompt_tuning")),
        ("minilm-l6", "encoder", ("prompt_tuning",)),
        ("gpt2", "causal", ("prompt_tuning",)),
    ):  # gpt2 lacks its zero-shot run
        for method in methods:
            run_dir = write_run(tmp_path / model, "smollm2-135m", "sst2", method, 0)
            saved = json.loads((run_dir / "results.json").read_text())
            (run_dir / "results.json").write_text(json.dumps({**saved, "model": model, "family": family}))
    result = report(str(tmp_path), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    table = table_of((tmp_path / "out" / "report.md").read_text())
    assert table[("minilm-l6", "sst2 (accuracy)")]["zero_shot"] == "n/a (no LM head)"
    assert table[("gpt2", "sst2 (accuracy)")]["zero_shot"] == "missing"
    assert table[("smollm2-135m", "sst2 (accuracy)")]["zero_shot"].endswith("(n=1)")


def set_fingerprint(run_dir: Path, config: Optional[str], data: Optional[str]) -> None:
    """Give a run's record the fingerprint ptlab-train now writes (records without one predate it)."""
    saved = json.loads((run_dir / "results.json").read_text())
    (run_dir / "results.json").write_text(json.dumps({**saved, "fingerprint": {"config": config, "data": data}}))


def mean_std(model: str, task: str, method: str, seeds) -> str:
    values = [100 * score(model, task, method, s) for s in seeds]
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}{interval(values)}"


CORRUPT = {  # what a results.json can hold instead of a record -> the reason the report gives
    "truncated": ('{"status": "completed", "model": "gpt2", ', "not valid JSON (Expecting property name"),
    "empty": ("", "empty file"),
    "not an object": ("[1, 2]", "not a JSON object but list"),
    "missing fields": ('{"status": "completed", "model": "gpt2"}', "not a ptlab run record: no task, method, seed"),
    "bad fingerprint": (None, "fingerprint is not {config: <hash>, data: <hash>}"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CORRUPT))
def test_a_corrupt_results_json_is_listed_under_the_table_of_the_others(tmp_path, case):
    """One seed's record is corrupt: the others make the table (exit 0), the file is listed with why."""
    for seed in SEEDS:
        write_run(tmp_path, "gpt2", "sst2", "prompt_tuning", seed)
    write_run(tmp_path, "gpt2", "sst2", "zero_shot", 0)
    corrupt = write_run(tmp_path, "gpt2", "sst2", "prompt_tuning", 2) / "results.json"
    content, reason = CORRUPT[case]
    if content is None:
        content = json.dumps({**json.loads(corrupt.read_text()), "fingerprint": "3f2a9c0d1b4e5f60"})
    corrupt.write_text(content)
    result = report(str(tmp_path), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    md = (tmp_path / "out" / "report.md").read_text()
    assert md == result.stdout[: len(md)]  # printed as written
    assert table_of(md)[("gpt2", "sst2 (accuracy)")] == {
        "zero_shot": f"{100 * score('gpt2', 'sst2', 'zero_shot', 0):.1f} (n=1)",
        "prompt_tuning": f"{mean_std('gpt2', 'sst2', 'prompt_tuning', [0, 1])} (n=2)",
    }
    assert "runs read: 3 (3 completed, 0 failed, 0 incomplete; 1 unreadable results.json listed below)" in md
    lines = md.splitlines()
    listed = next(i for i, line in enumerate(lines) if line.startswith(f"- {corrupt.resolve()}: "))
    assert reason in lines[listed]
    assert (
        lines.index("## Unreadable results.json, not in the table (1)")
        < listed
        < lines.index("## Cost (completed runs, mean over seeds)")
    )
    assert max(i for i, line in enumerate(lines) if line.startswith("| gpt2 | sst2 (accuracy) |")) < listed
    assert "Traceback" not in result.stderr


def test_no_readable_record_among_several_is_one_error_line(tmp_path):
    for seed, content in enumerate(["", "[1, 2]"]):
        (write_run(tmp_path, "gpt2", "sst2", "zero_shot", seed) / "results.json").write_text(content)
    result = report(str(tmp_path))
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("ptlab-report: error: no readable run record among 2 results.json: ")
    assert result.stderr.rstrip().endswith("(and 1 more)") and not (tmp_path / "report.md").exists()


def test_a_cell_mixing_config_or_data_fingerprints_is_marked_and_noted(tmp_path):
    """Two seeds of one cell from different configs (or data) are not one experiment's seeds."""
    config = [write_run(tmp_path, "gpt2", "sst2", "prompt_tuning", seed) for seed in (0, 1)]
    set_fingerprint(config[0], "3f2a9c0d1b4e5f60", "00000000000000d1")
    set_fingerprint(config[1], "77a9c0d1b4e5f601", "00000000000000d1")
    data = [write_run(tmp_path, "gpt2", "sst2", "prefix_tuning", seed) for seed in (0, 1, 2)]
    for run_dir, digest in zip(data, ["00000000000000d1", "00000000000000d2", None]):
        set_fingerprint(run_dir, "3f2a9c0d1b4e5f60", digest)
    result = report(str(tmp_path), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert table_of(result.stdout)[("gpt2", "sst2 (accuracy)")] == {
        "prompt_tuning": f"{mean_std('gpt2', 'sst2', 'prompt_tuning', [0, 1])} (n=2)†",
        "prefix_tuning": f"{mean_std('gpt2', 'sst2', 'prefix_tuning', [0, 1, 2])} (n=3)†",
    }
    c0, c1, d0, d1, d2 = (str(run_dir.resolve()) for run_dir in config + data)
    notes = [line for line in result.stdout.splitlines() if line.startswith("- † ")]
    assert notes == [
        f"- † gpt2/sst2/prompt_tuning mixes 2 configs: 3f2a9c0d1b4e5f60 ({c0}); 77a9c0d1b4e5f601 ({c1})",
        f"- † gpt2/sst2/prefix_tuning mixes 2 data sets: 00000000000000d1 ({d0}); 00000000000000d2 ({d1}); "
        f"unknown ({d2})",
    ]
    rows = {r["method"]: r for r in csv.DictReader((tmp_path / "out" / "report.csv").open())}
    assert rows["prompt_tuning"]["mixes"] == notes[0].split(" mixes ")[1]
    tex = (tmp_path / "out" / "report.tex").read_text()
    assert "(n=2)\\dag{}" in tex and "% † gpt2/sst2/prompt_tuning mixes 2 configs" in tex


@pytest.mark.slow
def test_same_unknown_or_separately_shown_fingerprints_are_not_marked(tmp_path):
    """Shared fingerprints, records without one (older runs) and runs in different columns: no †."""
    for seed in (0, 1):
        set_fingerprint(write_run(tmp_path, "gpt2", "sst2", "prompt_tuning", seed), "3f2a9c0d1b4e5f60", "d1" * 8)
        write_run(tmp_path, "gpt2", "sst2", "full_finetune", seed)  # no fingerprint at all
    set_fingerprint(write_run(tmp_path, "gpt2", "sst2", "prefix_tuning", 0), "3f2a9c0d1b4e5f60", "d1" * 8)
    plain = write_run(tmp_path, "gpt2", "sst2", "prefix_tuning", 1)  # no fingerprint: unknown, not different
    tagged = plain / "method.lr=0.1"  # another column, so its other config is no mix
    tagged.mkdir()
    (tagged / "results.json").write_text((plain / "results.json").read_text())
    set_fingerprint(tagged, "77a9c0d1b4e5f601", "d1" * 8)
    result = report(str(tmp_path), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    row = table_of(result.stdout)[("gpt2", "sst2 (accuracy)")]
    assert row == {
        "prompt_tuning": f"{mean_std('gpt2', 'sst2', 'prompt_tuning', [0, 1])} (n=2)",
        "prefix_tuning": f"{mean_std('gpt2', 'sst2', 'prefix_tuning', [0, 1])} (n=2)",
        "prefix_tuning [method.lr=0.1]": f"{100 * score('gpt2', 'sst2', 'prefix_tuning', 1):.1f} (n=1)",
        "full_finetune": f"{mean_std('gpt2', 'sst2', 'full_finetune', [0, 1])} (n=2)",
    }
    assert "†" not in result.stdout and "†" not in (tmp_path / "out" / "report.tex").read_text()


def test_sweep_end_reports_the_readable_runs_and_counts_a_corrupt_one_as_unfinished(tmp_path, capsys, monkeypatch):
    """The multirun callback prints the table without the corrupt run; the sweep then fails on it."""
    from omegaconf import OmegaConf

    from ptlab.hydra_callbacks import SweepReport

    monkeypatch.setattr(SweepReport, "unfinished", [])
    write_run(tmp_path, "gpt2", "sst2", "zero_shot", 0)
    corrupt = write_run(tmp_path, "gpt2", "sst2", "zero_shot", 1)
    (corrupt / "results.json").write_text("")
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    SweepReport().on_multirun_end(config)
    printed = capsys.readouterr().out
    assert table_of(printed)[("gpt2", "sst2 (accuracy)")] == {
        "zero_shot": f"{100 * score('gpt2', 'sst2', 'zero_shot', 0):.1f} (n=1)"
    }
    assert f"- {corrupt.resolve() / 'results.json'}: empty file" in printed
    assert (tmp_path / "report.md").exists()
    assert SweepReport.unfinished == [f"{corrupt.resolve()}: unreadable results.json: empty file"]

    (tmp_path / "sweep/gpt2/sst2/zero_shot/seed0/results.json").write_text("[]")  # now none is readable
    SweepReport.unfinished.clear()
    SweepReport().on_multirun_end(config)
    assert capsys.readouterr().out.startswith("ptlab-report: skipped: no readable run record among 2")
    assert len(SweepReport.unfinished) == 2


# Prompt sensitivity: `ptlab-train -m task.template=review,quoted,question method=zero_shot,prompt_tuning
# seed=0,1` puts each run in <method>/seed<k>/task.template=<name>/. Accuracy per method, template, seed:
TEMPLATED = {
    "zero_shot": {"review": (0.60, 0.62), "quoted": (0.70, 0.72), "question": (0.50, 0.54)},
    "prompt_tuning": {"review": (0.80, 0.84), "quoted": (0.76, 0.78), "question": (0.70, 0.70)},
}
# Template rankings: zero_shot quoted > review > question, prompt_tuning review > quoted > question.
# Of the 3 template pairs, (review, question) and (quoted, question) are ordered alike, (review, quoted)
# oppositely, with no ties: tau = (2 concordant - 1 discordant) / 3.
TAU = 1 / 3


def write_templated(
    root: Path,
    method: str,
    template: str,
    seed: int,
    value: float,
    named: bool = True,
    in_dir: bool = True,
    task: str = "sst2",
) -> Path:
    """A run of one template; `named`: its record says the template (older ones only have the dir);
    `in_dir`: its run dir does (a sweep over task.template)."""
    run_dir = write_run(root, "gpt2", task, method, seed, variant=f"task.template={template}" if in_dir else "")
    saved = json.loads((run_dir / "results.json").read_text())
    saved["metrics"]["val_best"][TASKS[task]] = value
    saved.update({"template": template} if named else {})
    (run_dir / "results.json").write_text(json.dumps(saved))
    return run_dir


def mean_std_of(values) -> str:
    scaled = [100 * v for v in values]
    return f"{statistics.mean(scaled):.1f} ± {statistics.stdev(scaled):.1f}{interval(scaled)}"


def rows_of(markdown: str, header: str) -> List[Dict[str, str]]:
    """The rows of the Markdown table whose header line starts with `header`."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    names = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(names, (c.strip() for c in line.strip("|").split("|")))))
    return rows


@pytest.fixture(scope="module")
def templated(tmp_path_factory):
    """3 templates x 2 methods x 2 seeds; prompt_tuning's records predate the `template` field."""
    root = tmp_path_factory.mktemp("templates")
    for method, templates in TEMPLATED.items():
        for template, values in templates.items():
            for seed, value in enumerate(values):
                write_templated(root / "runs", method, template, seed, value, named=method == "zero_shot")
    result = report(str(root / "runs"), "--out", str(root / "out"))
    assert result.returncode == 0, result.stderr
    return result, root / "out"


@pytest.mark.slow
def test_templates_keep_a_column_each_in_the_main_table(templated):
    """Nothing is averaged across templates in the main table: one column per method x template."""
    result, _ = templated
    row = table_of(result.stdout)[("gpt2", "sst2 (accuracy)")]
    assert row == {
        f"{method} [task.template={template}]": f"{mean_std_of(values)} (n=2)"
        for method in TEMPLATED
        for template, values in sorted(TEMPLATED[method].items())
    }


def test_prompt_sensitivity_spread_and_kendall_tau(templated):
    result, out = templated
    md = (out / "report.md").read_text()
    assert md == result.stdout[: len(md)]
    assert md.index("## Prompt sensitivity (across templates)") < md.index("## Cost")
    spread = {r["method"]: r for r in rows_of(md, "| model | task (metric) | method | templates |")}
    assert list(spread) == list(TEMPLATED)  # the main table's order
    csv_rows = {r["method"]: r for r in csv.DictReader((out / "prompt_sensitivity.csv").open())}
    for method, templates in TEMPLATED.items():
        means = {template: statistics.mean(values) for template, values in templates.items()}
        expected = {
            "mean": statistics.mean(means.values()),
            "std": statistics.stdev(means.values()),
            "min": min(means.values()),
            "max": max(means.values()),
            "gap": max(means.values()) - min(means.values()),
        }
        assert spread[method] == {
            "model": "gpt2",
            "task (metric)": "sst2 (accuracy)",
            "method": method,
            "templates": "3",
            **{name: f"{100 * value:.1f}" for name, value in expected.items()},
            "worst": min(means, key=means.get),
            "best": max(means, key=means.get),
        }
        for name, value in expected.items():
            assert float(csv_rows[method][name]) == pytest.approx(value, abs=1e-12), (method, name)
    # by hand: zero_shot 61/71/52 -> mean 61.3, std 9.5, gap 19.0; prompt_tuning 82/77/70 -> 76.3, 6.0, 12.0
    assert [spread["zero_shot"][k] for k in ("mean", "std", "min", "max", "gap")] == [
        "61.3",
        "9.5",
        "52.0",
        "71.0",
        "19.0",
    ]
    assert [spread["prompt_tuning"][k] for k in ("std", "gap", "worst", "best")] == [
        "6.0",
        "12.0",
        "question",
        "review",
    ]
    assert rows_of(md, "| model | task (metric) | methods | pairs | mean τ |") == [
        {"model": "gpt2", "task (metric)": "sst2 (accuracy)", "methods": "zero_shot, prompt_tuning", "pairs": "1",
         "mean τ": f"{TAU:.2f}"}
    ]  # fmt: skip
    assert rows_of(md, "| model | task (metric) | method A |") == [
        {"model": "gpt2", "task (metric)": "sst2 (accuracy)", "method A": "zero_shot", "method B": "prompt_tuning",
         "shared templates": "3", "τ": "0.33"}
    ]  # fmt: skip
    tex = (out / "prompt_sensitivity.tex").read_text()
    assert (
        tex.count("\\begin{tabular}") == 3
        and "mean $\\tau$" in tex
        and "zero\\_shot & prompt\\_tuning & 3 & 0.33" in tex
    )
    png = out / "sst2_templates.png"
    assert png.stat().st_size > 1000 and png.read_bytes()[:8] == PNG_MAGIC
    assert f"ptlab-report: wrote {png}" in result.stdout


@pytest.mark.slow
def test_templates_named_only_in_records_are_not_averaged_together(tmp_path):
    """Records of one run dir layout that name different templates (the task's default changed):
    a column each, and compared in the sensitivity section."""
    write_templated(tmp_path, "zero_shot", "review", 0, 0.6, in_dir=False)
    write_templated(tmp_path, "zero_shot", "quoted", 1, 0.7, in_dir=False)
    write_run(tmp_path, "gpt2", "sst2", "prompt_tuning", 0)  # no template info: in no sensitivity row
    result = report(str(tmp_path), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert table_of(result.stdout)[("gpt2", "sst2 (accuracy)")] == {
        "zero_shot [task.template=quoted]": "70.0 (n=1)",
        "zero_shot [task.template=review]": "60.0 (n=1)",
        "prompt_tuning": f"{100 * score('gpt2', 'sst2', 'prompt_tuning', 0):.1f} (n=1)",
    }
    (row,) = rows_of(result.stdout, "| model | task (metric) | method | templates |")
    assert (row["method"], row["templates"], row["mean"], row["std"], row["gap"]) == (
        "zero_shot",
        "2",
        "65.0",
        "7.1",
        "10.0",
    )
    assert "| mean τ |" not in result.stdout  # one method only: no ranking to compare


@pytest.mark.slow
def test_a_template_of_another_task_is_not_applicable_and_a_shared_name_can_be_missing(tmp_path):
    """Template names belong to their task's library: sst2's `review` is no rte run's to miss. Both
    tasks have a `tagged` template, so a method that ran it on one task only is missing on the other."""
    write_templated(tmp_path, "zero_shot", "review", 0, 0.6)
    write_templated(tmp_path, "zero_shot", "tagged", 0, 0.5)
    write_templated(tmp_path, "zero_shot", "true_false", 0, 0.55, task="rte")
    write_templated(tmp_path, "prompt_tuning", "tagged", 0, 0.7, task="rte")
    result = report(str(tmp_path), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    other = "n/a (another task's template)"
    assert table_of(result.stdout) == {
        ("gpt2", "sst2 (accuracy)"): {
            "zero_shot [task.template=review]": "60.0 (n=1)",
            "zero_shot [task.template=tagged]": "50.0 (n=1)",
            "zero_shot [task.template=true_false]": other,
            "prompt_tuning [task.template=tagged]": "missing",
        },
        ("gpt2", "rte (macro_f1)"): {
            "zero_shot [task.template=review]": other,
            "zero_shot [task.template=tagged]": "missing",
            "zero_shot [task.template=true_false]": "55.0 (n=1)",
            "prompt_tuning [task.template=tagged]": "70.0 (n=1)",
        },
    }


@pytest.mark.slow
def test_each_tasks_own_default_template_is_one_column(tmp_path):
    """sst2 ran `review`, rte `true_false` (each task's default, not in the run dirs): one column."""
    write_templated(tmp_path, "zero_shot", "review", 0, 0.6, in_dir=False)
    write_templated(tmp_path, "zero_shot", "true_false", 0, 0.55, in_dir=False, task="rte")
    result = report(str(tmp_path), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert table_of(result.stdout) == {
        ("gpt2", "sst2 (accuracy)"): {"zero_shot": "60.0 (n=1)"},
        ("gpt2", "rte (macro_f1)"): {"zero_shot": "55.0 (n=1)"},
    }


def test_kendall_tau_b_with_ties():
    from ptlab.report.templates import kendall_tau, tau_b

    # pairs of (x, y): 3 concordant, 1 discordant, 1 tied in x only, 1 tied in y only -> 2 / sqrt(5 * 5)
    assert tau_b([1, 2, 2, 3], [1, 3, 2, 2]) == pytest.approx(0.4)
    assert kendall_tau([1, 2, 2, 3], [1, 3, 2, 2]) == pytest.approx(0.4)  # scipy's when installed
    assert tau_b([61, 71, 52], [82, 77, 70]) == pytest.approx(TAU)
    assert tau_b([1, 2, 3], [3, 2, 1]) == -1.0
    assert math.isnan(tau_b([1, 1, 1], [1, 2, 3])) and math.isnan(kendall_tau([1, 1, 1], [1, 2, 3]))


@pytest.mark.slow
def test_a_run_never_done_is_missing_even_where_its_template_was_another_tasks_default(tmp_path):
    """A column that names no template ran each task's own default, so a task it never ran on is
    `missing`; only a column that names a template this task's runs never used is n/a."""
    for task, template in (("sst2", "review"), ("rte", "true_false")):
        write_templated(tmp_path, "zero_shot", template, 0, 0.6, in_dir=False, task=task)
    write_templated(tmp_path, "zero_shot", "it_was", 0, 0.5)  # an sst2 template, named in the run dir
    tuned = write_run(tmp_path, "gpt2", "sst2", "prompt_tuning", 0, variant="method.lr=0.03")
    record = json.loads((tuned / "results.json").read_text())
    (tuned / "results.json").write_text(json.dumps({**record, "template": "review"}))  # sst2's default
    result = report(str(tmp_path), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    rte = table_of(result.stdout)[("gpt2", "rte (macro_f1)")]
    assert rte["prompt_tuning [method.lr=0.03]"] == "missing"
    assert rte["zero_shot [task.template=it_was]"] == "n/a (another task's template)"
