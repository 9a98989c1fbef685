"""ptlab-report's Pareto view (<task>_pareto.png) on run dirs built here, with costs chosen so the
front of each panel is known: a dominated method is off it, a zero-parameter method on it, and a
method that is dominated on parameters and memory can still be on the training-time front.
"""

from __future__ import annotations

import json
import math
import statistics
import struct
from pathlib import Path
from typing import Dict

import pytest

from ptlab.report.cli import report
from ptlab.report.cells import summarize
from ptlab.report.gather import gather
from ptlab.report.pareto import GIB, count_floor, front_methods, pareto_front, pareto_points, trainable_count
from ptlab.report.plots import write_plots
from test_report import identity

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SEEDS = [0, 1, 2]
# method: (quality, trainable count, peak memory GiB, train minutes), for gpt2 at seed 0
COSTS = {
    "zero_shot": (0.60, 0, 1.0, 0.0),
    "prompt_tuning": (0.58, 10_000, 2.0, 5.0),  # dominated by zero_shot everywhere
    "lora": (0.80, 1_000_000, 3.0, 10.0),
    "full_finetune": (0.75, 100_000_000, 6.0, 8.0),  # dominated by lora but on params and memory only
}
TOTAL = 124_439_808


def quality(model: str, method: str, seed: int) -> float:
    better = 0.15 if (model, method) == ("smollm2-135m", "full_finetune") else 0.0
    return COSTS[method][0] + better + 0.01 * seed + 0.003 * seed**2


def record(model: str, task: str, method: str, seed: int, status: str = "completed") -> Dict:
    """A results.json shaped like ptlab-train's (tests/test_report.py's schema)."""
    run = {
        **identity(model, task, method, seed, status),
        "started_at": "2026-11-22T14:57:29+00:00",
        "finished_at": "2026-11-22T15:00:01+00:00",
    }
    if status != "completed":
        return {**run, "error": "OutOfMemoryError: CUDA out of memory", "time": {"total_seconds": 3.5}}
    _, trainable, memory, minutes = COSTS[method]
    value = quality(model, method, seed)
    return {
        **run,
        "params": {"trainable": trainable, "total": TOTAL, "trainable_fraction": trainable / TOTAL},
        "main_metric": "accuracy",
        "metrics": {"val_final": {"accuracy": value - 0.01}, "val_best": {"accuracy": value}, "test": None},
        "memory": {"peak_memory_bytes": int((memory + 0.1 * seed) * GIB), "memory_kind": "cuda_allocated"},
        "time": {"train_seconds": 60 * minutes + 6 * seed if minutes else 0.0, "total_seconds": 60.0},
    }


def write(root: Path, rec: Dict) -> Path:
    path = root / rec["name"] / rec["model"] / rec["task"] / rec["method"] / f"seed{rec['seed']}" / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec))
    return path


@pytest.fixture
def runs_dir(tmp_path) -> Path:
    root = tmp_path / "runs"
    for model in ("gpt2", "smollm2-135m"):
        for method in COSTS:
            for seed in SEEDS:
                write(root, record(model, "sst2", method, seed))
    write(root, record("gpt2", "sst2", "full_finetune", 3, status="failed"))  # not a point's seed
    write(root, record("gpt2", "rte", "lora", 0, status="failed"))  # a task with no completed run
    return root


def png_size(path: Path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_pareto_front_keeps_the_undominated_zero_cost_and_ties():
    costs = [0.0, 10.0, 5.0, 100.0, 100.0, 50.0, math.nan, 7.0]
    quality = [60.0, 55.0, 70.0, 90.0, 80.0, 70.0, 99.0, 70.0]
    # 1: dominated by 0 (costlier, worse); 4: by 3 (same cost, worse); 5 and 7: by 2 (same
    # quality, costlier); 6: unknown cost. The zero-cost point is on the front though it scores least.
    assert pareto_front(costs, quality) == [0, 2, 3]
    assert pareto_front([1.0, 1.0], [50.0, 50.0]) == [0, 1]  # identical points: neither dominates
    assert pareto_front([], []) == []


def test_points_are_per_model_and_method_with_seed_std(runs_dir):
    runs, _, _ = gather([runs_dir], "val", None)
    points = pareto_points(runs, "sst2").set_index(["model", "column"])
    assert len(points) == 8 and pareto_points(runs, "rte").empty
    ff = points.loc[("gpt2", "full_finetune")]
    assert ff["n"] == 3  # the failed seed 3 is not a seed of the point
    values = [100 * quality("gpt2", "full_finetune", s) for s in SEEDS]
    assert ff["quality"] == pytest.approx(statistics.mean(values))
    assert ff["quality_std"] == pytest.approx(statistics.stdev(values))
    memory = [int((6.0 + 0.1 * s) * GIB) / GIB for s in SEEDS]
    assert ff["memory_gib"] == pytest.approx(statistics.mean(memory))
    assert ff["memory_gib_std"] == pytest.approx(statistics.stdev(memory))
    assert ff["train_minutes"] == pytest.approx(8.0 + 0.1)
    assert ff["train_minutes_std"] == pytest.approx(statistics.stdev([8.0, 8.1, 8.2]))
    assert ff["trainable"] == 100_000_000  # the absolute count, read from results.json
    assert points.loc[("gpt2", "zero_shot")]["trainable"] == 0
    assert ff["memory_kind"] == "cuda_allocated"


def test_fronts_per_cost_and_model(runs_dir):
    runs, _, _ = gather([runs_dir], "val", None)
    points = pareto_points(runs, "sst2")
    params, memory, time = (front_methods(points, cost) for cost in ("trainable", "memory_gib", "train_minutes"))
    assert params["gpt2"] == ["zero_shot", "lora"]  # prompt_tuning and full_finetune dominated
    assert memory["gpt2"] == ["zero_shot", "lora"]
    assert time["gpt2"] == ["zero_shot", "full_finetune", "lora"]  # cheaper in time than lora
    assert params["smollm2-135m"] == ["zero_shot", "lora", "full_finetune"]  # its best scorer


def test_report_writes_a_pareto_png_per_task_with_a_completed_run(runs_dir, tmp_path):
    out = tmp_path / "out"
    _, written = report([runs_dir], out, None, "val")
    assert out / "sst2_pareto.png" in written
    assert not (out / "rte_pareto.png").exists()  # rte's only run failed: nothing to plot
    width, height = png_size(out / "sst2_pareto.png")
    assert 1500 <= width <= 3000 and 400 <= height <= 1000  # three panels side by side
    assert (out / "sst2_pareto.png").stat().st_size > 20_000


def test_write_plots_returns_the_pareto_path_beside_the_other_plots(runs_dir, tmp_path):
    runs, _, _ = gather([runs_dir], "val", None)
    written = write_plots(runs, summarize(runs, "val"), "val", tmp_path)
    assert tmp_path / "sst2_pareto.png" in written and tmp_path / "sst2_metric_vs_params.png" in written
    assert all(path.name != "rte_pareto.png" for path in written)
    assert png_size(tmp_path / "sst2_pareto.png")[0] > png_size(tmp_path / "sst2_metric_vs_params.png")[0]


def test_a_record_without_an_absolute_count_is_left_out_of_the_parameter_panel_only(runs_dir, tmp_path):
    path = runs_dir / "sweep" / "gpt2" / "sst2" / "lora" / "seed0" / "results.json"
    rec = json.loads(path.read_text())
    del rec["params"]["trainable"]
    path.write_text(json.dumps(rec))
    assert math.isnan(trainable_count(path)) and math.isnan(trainable_count(tmp_path / "none.json"))
    runs, _, _ = gather([runs_dir], "val", None)
    points = pareto_points(runs, "sst2")
    assert front_methods(points, "memory_gib")["gpt2"] == ["zero_shot", "lora"]
    lora = points.set_index(["model", "column"]).loc[("gpt2", "lora")]
    assert lora["trainable"] == 1_000_000  # the mean over the seeds that have it
    assert tmp_path / "sst2_pareto.png" in write_plots(runs, summarize(runs, "val"), "val", tmp_path)


def test_zero_is_drawn_a_decade_below_the_smallest_count():
    import pandas as pd

    assert count_floor(pd.Series([0.0, 10_000.0, 3e6])) == 1000.0
    assert count_floor(pd.Series([0.0, 0.0])) == 1.0
