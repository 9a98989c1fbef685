"""Template libraries through the real CLI: one Hydra sweep over `task.template` x two methods on a
tiny Llama, each run's prompts and label words from its template (the same for both methods), and
`ptlab-report`'s prompt-sensitivity section computed from those runs' own results.json."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import yaml

from ptlab.kinds import kind_of

from cli import REAL_DATA, ptlab_ok, record, run_dirs
from test_report import report, rows_of

pytestmark = pytest.mark.slow

if not (REAL_DATA / "sst2").is_dir():
    pytest.skip(f"real datasets not found at {REAL_DATA}", allow_module_level=True)

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = ["review", "it_was", "yes_no"]  # default label words, and two libraries of their own
METHODS = ["zero_shot", "prompt_tuning"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, cli_cache):
    """`ptlab-train -m` over 3 templates x 2 methods (prompt tuning: 4 steps), 24 dev examples."""
    log_dir = tmp_path_factory.mktemp("templates") / "runs"
    overrides = ["model=tiny-llama", "task=sst2", "debug=smoke", "data.eval_limit=24"]
    ptlab_ok(
        "-m", *overrides, f"method={','.join(METHODS)}", f"task.template={','.join(TEMPLATES)}",
        log_dir=log_dir, cache=cli_cache,
    )  # fmt: skip
    runs = {(record(d)["method"], record(d)["template"]): d for d in run_dirs(log_dir)}
    assert sorted(runs) == sorted((m, t) for m in METHODS for t in TEMPLATES)
    return log_dir, runs


def predictions(run_dir: Path) -> list:
    return [json.loads(line) for line in (run_dir / "predictions_val.jsonl").read_text().splitlines()]


def test_each_run_prompts_with_its_template_and_both_methods_share_it(sweep, compose_run):
    _, runs = sweep
    library = yaml.safe_load((REPO / "conf" / "task" / "sst2.yaml").read_text())["templates"]
    for template in TEMPLATES:
        cue = library[template]["text"].split("{text}")
        label_words = library[template].get("labels", {"negative": " negative", "positive": " positive"})
        rows = {method: predictions(runs[method, template]) for method in METHODS}
        assert [r["prompt"] for r in rows["zero_shot"]] == [r["prompt"] for r in rows["prompt_tuning"]], template
        assert len(rows["zero_shot"]) == 24
        for row in rows["zero_shot"]:
            assert row["prompt"].startswith(cue[0]) and row["prompt"].endswith(cue[1]), (template, row["prompt"])
        saved = yaml.safe_load((runs["zero_shot", template] / "config.yaml").read_text())
        assert saved["task"]["template"] == template
        kind = kind_of(
            compose_run("model=tiny-llama", "method=zero_shot", "task=sst2", f"task.template={template}").task
        )
        assert kind.verbalizers() == label_words and kind.task.selected.text == library[template]["text"]
    assert len({predictions(runs["zero_shot", t])[0]["prompt"] for t in TEMPLATES}) == 3


def test_prompt_sensitivity_section_from_the_sweep(sweep, tmp_path):
    log_dir, runs = sweep
    result = report(str(log_dir), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    accuracy = {key: record(d)["metrics"]["val_best"]["accuracy"] for key, d in runs.items()}
    # the sweep's other overrides label the method ("zero_shot [data.eval_limit=24,debug=smoke]")
    spread = {
        row["method"].split(" [")[0]: row
        for row in rows_of(result.stdout, "| model | task (metric) | method | templates |")
    }
    assert sorted(spread) == sorted(METHODS)
    for method in METHODS:
        values = [accuracy[method, t] for t in TEMPLATES]
        row = spread[method]
        assert row["templates"] == "3"
        assert float(row["mean"]) == pytest.approx(100 * statistics.mean(values), abs=0.051)
        assert float(row["std"]) == pytest.approx(100 * statistics.stdev(values), abs=0.051)
        assert float(row["gap"]) == pytest.approx(100 * (max(values) - min(values)), abs=0.11)
        assert accuracy[method, row["best"]] == max(values) and accuracy[method, row["worst"]] == min(values)
    (pair,) = rows_of(result.stdout, "| model | task (metric) | method A |")
    names = [pair[f"method {side}"].split(" [")[0] for side in "AB"]
    assert sorted(names) == sorted(METHODS) and pair["shared templates"] == "3"
    from ptlab.report.templates import tau_b

    tau = tau_b(*([accuracy[m, t] for t in TEMPLATES] for m in names))
    assert pair["τ"] == ("–" if tau != tau else f"{tau:.2f}")  # undefined (a method scored all alike): –
    assert (tmp_path / "out" / "sst2_templates.png").stat().st_size > 1000
