"""Per-method tuning (conf/hparams_search/): a real Optuna study through hydra-optuna-sweeper with
its journal file, the CPU grid preset, and ptlab-report's tuned table picking on validation."""

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from cli import PROCESS_TIMEOUT, ptlab_cmd, ptlab_env, ptlab_ok, run_dirs

BUDGET = ("model=tiny-bert", "task=sst2", "debug=smoke", "trainer.max_steps=8", "data.eval_limit=64")


def _study(journal: Path):
    import optuna

    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    (summary,) = optuna.get_all_study_summaries(storage)
    return optuna.load_study(study_name=summary.study_name, storage=storage)


def _tuned(out: Path):
    subprocess.run(
        [sys.executable, "-m", "ptlab.report", str(out), "--out", str(out / "report")],
        check=True, capture_output=True, timeout=PROCESS_TIMEOUT,
    )  # fmt: skip
    with open(out / "report" / "tuned.csv") as f:
        return list(csv.DictReader(f))


def _lr(run: Path) -> float:
    overrides = json.loads((run / "results.json").read_text())["overrides"]
    return float(next(o for o in overrides if o.startswith("method.lr=")).split("=")[1])


@pytest.mark.slow
def test_an_optuna_study_of_three_trials_continues_records_failures_and_the_report_picks_its_best(tmp_path, cli_cache):
    log_dir = tmp_path / "runs"
    study = ("-m", "hparams_search=optuna", "method=full_finetune", *BUDGET, "name=study")
    ptlab_ok(*study, "hydra.sweeper.n_trials=3", "method.lr_range=[1e-3,3]", log_dir=log_dir, cache=cli_cache)
    journal = log_dir / "study" / "optuna" / "tiny-bert-sst2-full_finetune.journal"
    trials = _study(journal).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    runs = run_dirs(log_dir)
    assert len(runs) == 3
    # each trial's value is its run's selection-split score, never the reported split's
    for trial in trials:
        (run,) = [r for r in runs if math.isclose(_lr(r), trial.params["method.lr"])]
        record = json.loads((run / "results.json").read_text())
        assert trial.value == record["metrics"]["val_best"]["accuracy"]
        assert record["splits"] == {**record["splits"], "selected_on": "validation", "reported": "test"}
    # A second job continues the same study from its journal; a diverging trial is recorded as
    # the worst value (its run as failed), the study goes on and the command exits non-zero.
    again = subprocess.run(
        ptlab_cmd(*study, "hydra.sweeper.n_trials=1", "method.lr_range=[1e8,1e9]"),
        env=ptlab_env(log_dir, cli_cache), cwd=tmp_path, capture_output=True, text=True, timeout=PROCESS_TIMEOUT,
    )  # fmt: skip
    assert again.returncode == 1 and "non-finite training loss" in again.stderr
    trials = _study(journal).trials
    assert len(trials) == 4 and trials[3].value == -math.inf
    failed = [r for r in run_dirs(log_dir) if json.loads((r / "results.json").read_text())["status"] == "failed"]
    assert len(failed) == 1
    (pick,) = _tuned(log_dir / "study")
    best_value = max(t.value for t in trials)
    assert float(pick["val_best_mean"]) == pytest.approx(best_value)
    best_lrs = [t.params["method.lr"] for t in trials if t.value == best_value]
    assert any(f"method.lr={lr}," in pick["variant"] + "," for lr in best_lrs), (pick["variant"], best_lrs)


@pytest.mark.slow
def test_the_grid_preset_runs_each_rate_of_the_method_with_each_seed(tmp_path, cli_cache):
    log_dir = tmp_path / "runs"
    ptlab_ok(
        "-m", "hparams_search=grid", "method=lora", *BUDGET, "method.lr_grid=[1e-3,1e-2]", "seed=0,1", "name=grid",
        log_dir=log_dir, cache=cli_cache,
    )  # fmt: skip
    runs = run_dirs(log_dir)
    assert sorted((_lr(r), json.loads((r / "results.json").read_text())["seed"]) for r in runs) == [
        (1e-3, 0), (1e-3, 1), (1e-2, 0), (1e-2, 1),
    ]  # fmt: skip
    (pick,) = _tuned(log_dir / "grid")
    # Both seeds chose the rate, so none is left to report it on fresh: the tuned cell is empty.
    assert pick["variants"] == "2" and pick["tuning_seeds"] == "0 1" and pick["n"] == "0"


@pytest.mark.parametrize("search", ["optuna", "grid"])
def test_a_method_with_nothing_to_tune_is_one_clear_error(tmp_path, cli_cache, search):
    proc = subprocess.run(
        ptlab_cmd("-m", f"hparams_search={search}", "method=zero_shot", "model=tiny-llama", "debug=smoke"),
        env=ptlab_env(tmp_path / "runs", cli_cache), cwd=tmp_path, capture_output=True, text=True,
        timeout=PROCESS_TIMEOUT,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "method zero_shot has no learning rate to tune" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "runs").exists()


SEARCH_ERRORS = {  # an override of an Optuna study -> what its one error line says
    "inverted range": ("method.lr_range=[1e-2,1e-4]", "method.lr_range=[0.01, 0.0001]: low must be below high"),
    "log range from 0": (
        "method.lr_range=[0,1e-2]",
        "method.lr_range=[0, 0.01]: the learning rate is searched on a log",
    ),
    "non-numeric range": ("method.lr_range=[a,b]", "method.lr_range=[a, b] is not [low, high], two learning rates"),
    "one bound": ("method.lr_range=[1e-3]", "method.lr_range=[0.001] is not [low, high]"),
    "no trials": ("hydra.sweeper.n_trials=0", "hydra.sweeper.n_trials must be a whole number >= 1, got 0"),
    "no jobs": ("hydra.sweeper.n_jobs=0", "hydra.sweeper.n_jobs must be a whole number >= 1, got 0"),
}


@pytest.mark.parametrize("case", list(SEARCH_ERRORS))
def test_a_bad_search_setting_is_one_line_before_the_study_exists(tmp_path, cli_cache, case):
    """Checked as Hydra resolves the sweep, before it builds the sampler (whose deprecation
    warnings would come first) and the study (an empty journal would be left behind)."""
    override, message = SEARCH_ERRORS[case]
    proc = subprocess.run(
        ptlab_cmd("-m", "hparams_search=optuna", "method=full_finetune", *BUDGET, override),
        env=ptlab_env(tmp_path / "runs", cli_cache), cwd=tmp_path, capture_output=True, text=True,
        timeout=PROCESS_TIMEOUT,
    )  # fmt: skip
    assert proc.returncode == 1 and proc.stderr.startswith(f"ptlab: error: {message}"), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr  # no FutureWarning, no traceback
    assert not (tmp_path / "runs").exists()  # no journal, no run dir


def test_a_grid_of_non_rates_is_one_clear_error(tmp_path, cli_cache):
    proc = subprocess.run(
        ptlab_cmd("-m", "hparams_search=grid", "method=lora", *BUDGET, "method.lr_grid=[1e-3,0]"),
        env=ptlab_env(tmp_path / "runs", cli_cache), cwd=tmp_path, capture_output=True, text=True,
        timeout=PROCESS_TIMEOUT,
    )  # fmt: skip
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("ptlab: error: method.lr_grid=[0.001, 0] is not a list of learning rates > 0")
    assert not (tmp_path / "runs").exists()
