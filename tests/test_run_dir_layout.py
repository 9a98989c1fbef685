"""The run dir layout is spelled once (ptlab/run/directory.py): its names, the file lists that resume and
rerun move aside, the YAML that must agree with it, and the readers that find runs by it. Fast and
torch-free (no training)."""

from __future__ import annotations

import os

import pytest
from omegaconf import OmegaConf

from ptlab.run import decision as run_decision
from ptlab.config.schema import ROOT
from ptlab.run.directory import RESUMABLE, RUN_FILES, START_FILES, RunDir


def test_the_layout_keeps_its_names(tmp_path):
    run = RunDir(tmp_path)
    assert (run.results, run.config, run.metrics_csv, run.hparams) == tuple(
        tmp_path / n for n in ("results.json", "config.yaml", "metrics.csv", "hparams.yaml")
    )
    assert (run.last_ckpt, run.best_ckpt) == (tmp_path / "checkpoints/last.ckpt", tmp_path / "checkpoints/best.ckpt")
    assert run.resumable == (run.last_ckpt, run.best_ckpt)
    assert run.predictions("val") == tmp_path / "predictions_val.jsonl"
    assert (run.adapter, run.log, run.lock, run.decision) == tuple(
        tmp_path / n for n in ("adapter", "ptlab.log", ".lock", ".decision")
    )
    assert (run.log_of_rank(0), run.log_of_rank(3)) == (run.log, tmp_path / "ptlab.rank3.log")
    assert run.attempt(2) == tmp_path / "attempts" / "2"
    assert run.rel(run.best_ckpt) == "checkpoints/best.ckpt"
    # what resume and rerun move aside means what it meant before ptlab/run/directory.py
    assert RUN_FILES == (
        "results.json",
        "config.yaml",
        "metrics.csv",
        "checkpoints",
        "predictions_val.jsonl",
        "predictions_test.jsonl",
        "adapter",
        "ptlab.log",
        "hparams.yaml",
    )
    assert START_FILES == ("results.json", "config.yaml", "metrics.csv", "ptlab.log", "hparams.yaml")
    assert RESUMABLE == ("last.ckpt", "best.ckpt")


def test_a_run_dir_is_taken_as_a_path_str_or_run_dir(tmp_path):
    run = RunDir.of(str(tmp_path))
    assert run == RunDir.of(tmp_path) == RunDir.of(run) == RunDir(run)
    assert RunDir.of(run) is run
    assert str(run) == os.fspath(run) == str(tmp_path)
    with pytest.raises(AttributeError):
        run.root = tmp_path / "elsewhere"  # frozen: a run's paths do not move under its readers


def test_the_config_files_agree_with_the_layout():
    def unresolved(*parts):
        return OmegaConf.to_container(OmegaConf.load(ROOT.joinpath("conf", *parts)), resolve=False)

    run = RunDir("${paths.output_dir}")
    saved = {
        c["filename"] + ".ckpt": c["dirpath"]
        for c in unresolved("callbacks", "default.yaml").values()
        if "dirpath" in c
    }
    assert saved == {run.best_ckpt.name: str(run.checkpoints), run.last_ckpt.name: str(run.checkpoints)}
    csv = unresolved("logger", "csv.yaml")["csv"]
    assert (csv["save_dir"], csv["name"], csv["version"]) == (str(run), "", "")  # metrics.csv in the run dir itself


def test_runs_are_found_and_earlier_attempts_are_not(tmp_path):
    for where in ("a", "b/seed0", "b/seed0/attempts/1", "b/seed0/attempts/x"):
        RunDir(tmp_path / where).results.parent.mkdir(parents=True, exist_ok=True)
        RunDir(tmp_path / where).results.write_text("{}")
    found = [run.root.relative_to(tmp_path).as_posix() for run in RunDir.under(tmp_path)]
    assert found == ["a", "b/seed0", "b/seed0/attempts/x"]  # attempts/<n> only, n a number
    assert RunDir.is_attempt(tmp_path / "b/seed0/attempts/1") and not RunDir.is_attempt(tmp_path / "a")


def test_rerun_and_a_fresh_start_archive_by_the_layout(tmp_path):
    run = RunDir(tmp_path / "run")
    run.checkpoints.mkdir(parents=True)
    for path in (run.results, run.config, run.metrics_csv, run.log, run.predictions("val"), run.last_ckpt):
        path.write_text("earlier")
    assert run_decision.check_run_dir(run.root, "rerun", {}, {}).action == "start"
    first = RunDir(run.attempt(1))
    assert first.last_ckpt.exists() and first.predictions("val").exists() and first.log.exists()
    assert not run.results.exists() and not run.checkpoints.exists()
    run.results.write_text('{"status": "failed"}')  # no checkpoint: the next start moves the record aside
    run.log.write_text("earlier")
    assert run_decision.check_run_dir(run, "resume", {}, {}).action == "start"
    assert RunDir(run.attempt(2)).results.exists() and RunDir(run.attempt(2)).log.exists()
    assert sorted(run.attempt_numbers()) == [1, 2]


@pytest.mark.slow
def test_a_sweep_point_with_very_long_overrides_gets_a_short_distinct_run_dir(tmp_path, cli_cache):
    from cli import ptlab_ok, run_dirs

    long_text = "{text} " + "and then some more words " * 10
    log_dir = tmp_path / "runs"
    for end in ("one", "two"):
        ptlab_ok(
            "model=tiny-bert", "method=full_finetune", "debug=smoke", "trainer.max_steps=1",
            f"+task.templates.long.text='{long_text}{end}'", "task.template=long",
            log_dir=log_dir, cache=cli_cache,
        )  # fmt: skip
    first, second = run_dirs(log_dir)
    assert first != second and all(len(d.name.encode()) <= 200 for d in (first, second))
    assert first.name.startswith("+task.templates.long.text=") and first.name[-15:-12] == "..."
