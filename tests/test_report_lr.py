"""ptlab-report's learning-rate sensitivity view, on run dirs built here (tests/test_report_stats.py's
writer): the points are each rate's mean over seeds, on the selection and the reported split, and a
method run at one rate only has no curve."""

import pytest

from ptlab.report.cli import report
from ptlab.report.gather import gather
from ptlab.report.lr import lr_points
from test_report_stats import write_run


def test_each_rate_is_one_point_per_split_over_its_seeds_and_the_plot_is_written(tmp_path):
    for lr, val, right in (("0.1", 0.60, 500), ("0.01", 0.80, 700), ("0.001", 0.70, 650)):
        for seed in (0, 1):
            write_run(tmp_path, "prompt_tuning", f"method.lr={lr}", seed, val, right)
    write_run(tmp_path, "lora", "method.lr=0.001", 0, 0.75, 720)  # one rate: no curve
    runs, _, _ = gather([tmp_path], "test", None)
    points = lr_points(runs, "sst2")
    assert list(points["method"].unique()) == ["prompt_tuning"]
    assert list(points["lr"]) == [0.001, 0.01, 0.1] and set(points["n"]) == {2}
    middle = points[points["lr"] == 0.01].iloc[0]
    assert middle["select"] == pytest.approx(0.801)  # val_best: 0.80 at seed 0, 0.802 at seed 1
    assert middle["value"] == pytest.approx((700 + 701) / 2 / 1000)  # test: seed 1 gets one more right
    _, written = report([tmp_path], tmp_path / "out", None, "test")
    path = tmp_path / "out" / "sst2_lr_sensitivity.png"
    assert path in written and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
