"""Paths and secrets through the real CLI (issue 22, items 3 and 4).

Paths: every directory ptlab names from user text (the experiment name, a task YAML's name, any
override value) stays under PTLAB_LOG_DIR, and two different configs never share one. Most cases
are a sweep whose one point fails validation (~5 s): its failed record says where its run dir is.

Secrets: a value read from the environment (`${oc.env:...}`), a URL's password and a key passed in
the wrong field reach no file under the log dir and no console line; where a secret would name
the run or change its result, the run is refused with one line that does not show it.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Dict, List, Optional

import pytest
from omegaconf import OmegaConf

from cli import PROCESS_TIMEOUT, ptlab_cmd, ptlab_env, record, run_dirs

ERROR = "ptlab: error:"
FAILS_VALIDATION = ["model=tiny-llama", "method=prompt_tuning", "method.lr=-1"]  # a record, nothing loaded
QUICK_RUN = ["model=tiny-llama", "method=zero_shot", "task=sst2", "data.eval_limit=4", "data.test_limit=4"]


def ptlab(*args: str, log_dir: Path, env: Optional[Dict[str, str]] = None):
    log_dir.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        ptlab_cmd(*args),
        env={**ptlab_env(log_dir, log_dir.parent / "cache"), **(env or {})},
        cwd=log_dir.parent,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
    )


def one_error(proc) -> str:
    shown = f"\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, shown
    lines = [line for line in proc.stderr.splitlines() if line.startswith(ERROR)]
    assert len(lines) == 1, shown
    return lines[0]


def failed_run_dir(log_dir: Path, *overrides: str) -> Path:
    """The run dir of a one-point sweep that fails validation, relative to the log dir."""
    proc = ptlab("-m", *FAILS_VALIDATION, *overrides, log_dir=log_dir)
    assert proc.returncode == 1, proc.stderr[-3000:]
    [found] = run_dirs(log_dir)
    assert record(found)["status"] == "failed"
    return found.relative_to(log_dir)


def outside(top: Path, log_dir: Path) -> List[str]:
    """What exists under `top` outside the log dir and the cache (the folders holding them aside)."""
    inside = (log_dir, log_dir.parent / "cache")
    holders = set(log_dir.parents)
    return sorted(str(p) for p in top.rglob("*") if p not in holders and not any(d in (p, *p.parents) for d in inside))


def assert_nowhere(secret: str, top: Path, *procs) -> None:
    for proc in procs:
        assert secret not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    for path in top.rglob("*"):
        assert secret not in str(path), path
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def plain_parts(relative: Path) -> None:
    for part in relative.parts:
        assert part not in (".", "..") and not part.startswith("."), relative


# ------------------------------------------------------------------ paths


@pytest.mark.parametrize(
    "override", ["name=../../x", "name=..", "name={tmp}/elsewhere", "name=.hidden", "method.init_text=../../../x"]
)
def test_user_text_in_a_run_dir_stays_under_the_log_dir(override, tmp_path):
    log_dir = tmp_path / "a" / "b" / "runs"
    relative = failed_run_dir(log_dir, override.format(tmp=tmp_path))
    plain_parts(relative)
    assert outside(tmp_path, log_dir) == []


@pytest.mark.parametrize("key", ["paths.output_dir", "hydra.run.dir"])
def test_a_run_dir_set_by_hand_outside_the_log_dir_is_refused(key, tmp_path):
    log_dir = tmp_path / "a" / "runs"
    proc = ptlab(*QUICK_RUN, f"{key}={tmp_path}/elsewhere", log_dir=log_dir)
    assert "is not inside paths.log_dir" in one_error(proc)
    assert [p for p in tmp_path.rglob("*") if p.is_file() and log_dir.parent / "cache" not in p.parents] == []


def test_an_optuna_journal_stays_under_the_log_dir(tmp_path):
    log_dir = tmp_path / "a" / "b" / "runs"
    args = ["-m", "hparams_search=optuna", "hydra.sweeper.n_trials=1", "data.eval_limit=-1", "name=../../x"]
    proc = ptlab(*args, "model=tiny-llama", "method=prompt_tuning", log_dir=log_dir)
    assert proc.returncode == 1, proc.stderr[-3000:]
    [journal] = log_dir.rglob("*.journal")
    plain_parts(journal.relative_to(log_dir))
    assert outside(tmp_path, log_dir) == []


def evil_task(tmp_path: Path) -> Path:
    """A user's task YAML (sst2 under another name) whose name climbs out of any directory."""
    conf = tmp_path / "my-conf" / "task" / "evil.yaml"
    conf.parent.mkdir(parents=True)
    conf.write_text("defaults:\n  - sst2\n  - _self_\nname: ../../../evil\n")
    return conf


def test_a_task_yamls_name_stays_under_the_log_dir(tmp_path):
    conf = evil_task(tmp_path)
    log_dir = tmp_path / "a" / "b" / "runs"
    proc = ptlab("--config-dir", str(tmp_path / "my-conf"), "-m", *FAILS_VALIDATION, "task=evil", log_dir=log_dir)
    assert proc.returncode == 1, proc.stderr[-3000:]
    [found] = run_dirs(log_dir)
    assert record(found)["task"] == "../../../evil"
    plain_parts(found.relative_to(log_dir))
    assert outside(tmp_path, log_dir) == [str(tmp_path / "my-conf"), str(conf.parent), str(conf)]


@pytest.mark.slow
def test_a_task_yamls_name_names_no_path_outside_the_log_and_cache_dirs(tmp_path):
    """A whole run: the run dir and the tokenization cache's entries are named from task.name."""
    conf = evil_task(tmp_path)
    log_dir = tmp_path / "a" / "b" / "runs"
    proc = ptlab("--config-dir", str(tmp_path / "my-conf"), *QUICK_RUN, "task=evil", log_dir=log_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [run] = run_dirs(log_dir)
    assert record(run)["status"] == "completed" and record(run)["task"] == "../../../evil"
    entries = sorted(p.name for p in (log_dir.parent / "cache" / "tokenized").iterdir())
    assert entries and all(name.lstrip(".").startswith("%2E.%2F..%2F..%2Fevil-") for name in entries), entries
    assert outside(tmp_path, log_dir) == [str(tmp_path / "my-conf"), str(conf.parent), str(conf)]


@pytest.mark.slow
def test_different_names_never_share_a_run_dir(tmp_path):
    """The escape is reversible: names that a lossy clean-up would merge stay apart."""
    names = ["a/b", "a%2Fb", "a_b", "..", "%2E.", "a b"]
    found = [failed_run_dir(tmp_path / f"runs{i}", f"name={name}") for i, name in enumerate(names)]
    assert len({str(path) for path in found}) == len(names), found
    assert found[0].parts[0] == "a%2Fb" and found[-1].parts[0] == "a b"  # ordinary names stay readable


@pytest.mark.slow
@pytest.mark.parametrize(
    "twice, once",
    [
        (["method.lr=-1"], []),  # FAILS_VALIDATION's own method.lr=-1, given twice
        (["method.weight_decay=0.5", "method.weight_decay=0.1"], ["method.weight_decay=0.1"]),  # the last wins
        (["seed=1", "seed=1"], ["seed=1"]),
    ],
    ids=["same-value", "last-wins", "seed"],
)
def test_a_key_given_twice_finds_the_run_of_the_key_given_once(twice, once, tmp_path):
    assert failed_run_dir(tmp_path / "twice", *twice) == failed_run_dir(tmp_path / "once", *once)


@pytest.mark.slow
def test_two_names_that_used_to_meet_in_one_dir_both_run(tmp_path):
    """`name=a/../b` once landed in b's run dir and was skipped as b's completed run."""
    log_dir = tmp_path / "runs"
    first = ptlab(*QUICK_RUN, "name=b", log_dir=log_dir)
    second = ptlab(*QUICK_RUN, "name=a/../b", log_dir=log_dir)
    assert first.returncode == 0 and second.returncode == 0, second.stderr[-3000:]
    assert "holds a completed run" not in second.stdout
    runs = run_dirs(log_dir)
    assert [r.relative_to(log_dir).parts[0] for r in runs] == ["a%2F..%2Fb", "b"]
    assert [record(r)["status"] for r in runs] == ["completed", "completed"]


# ------------------------------------------------------------------ secrets


@pytest.mark.slow
@pytest.mark.parametrize(
    "key, value, why",
    [
        ("name", "zq" + uuid.uuid4().hex, "names the run directory"),
        ("seed", "7" + str(uuid.uuid4().int)[:12], "names the run directory"),
        ("method.lr", "0.00" + str(uuid.uuid4().int)[:12], "changes the result"),
    ],
    ids=["name", "seed", "method.lr"],
)
@pytest.mark.parametrize("sweep", [False, True], ids=["run", "sweep"])
def test_an_environment_value_that_would_be_recorded_is_refused_unseen(key, value, why, sweep, tmp_path):
    log_dir = tmp_path / "runs"
    args = ["-m"] * sweep + ["model=tiny-llama", "method=prompt_tuning", f"{key}=${{oc.env:SOME_SECRET}}"]
    proc = ptlab(*args, log_dir=log_dir, env={"SOME_SECRET": value})
    if sweep and key == "method.lr":  # a sweep point fails alone: its record says why
        [found] = run_dirs(log_dir)
        line = record(found)["error"]
    else:
        line = one_error(proc)
    assert key in line and "SOME_SECRET" in line and why in line, line
    assert_nowhere(value, tmp_path, proc)


@pytest.mark.slow
@pytest.mark.parametrize("sweep", [False, True], ids=["run", "sweep"])
def test_url_credentials_are_refused_naming_key_env(sweep, tmp_path):
    password = "pw" + uuid.uuid4().hex
    log_dir = tmp_path / "runs"
    url = f"model.api.base_url=http://alice:{password}@127.0.0.1:9/v1"
    proc = ptlab(*["-m"] * sweep, "model=api", "method=zero_shot", url, log_dir=log_dir)
    line = one_error(proc) if not sweep else record(run_dirs(log_dir)[0])["error"]
    assert "model.api.base_url" in line and "model.api.key_env" in line and "<redacted>@127.0.0.1" in line, line
    assert_nowhere(password, tmp_path, proc)


@pytest.mark.slow
@pytest.mark.parametrize("key", ["sk-" + uuid.uuid4().hex, "not-a-name-" + uuid.uuid4().hex], ids=["sk", "not-a-name"])
@pytest.mark.parametrize("sweep", [False, True], ids=["run", "sweep"])
def test_a_key_passed_as_key_env_is_refused_unseen(key, sweep, tmp_path):
    log_dir = tmp_path / "runs"
    proc = ptlab(*["-m"] * sweep, "model=api", "method=zero_shot", f"model.api.key_env={key}", log_dir=log_dir)
    line = one_error(proc) if not sweep else record(run_dirs(log_dir)[0])["error"]
    assert "model.api.key_env must name the environment variable" in line, line
    assert_nowhere(key, tmp_path, proc)


def test_a_key_in_a_field_that_changes_the_result_is_refused_unseen(tmp_path):
    key = "hf_" + uuid.uuid4().hex
    proc = ptlab("model=api", "method=zero_shot", f"model.api.model={key}", log_dir=tmp_path / "runs")
    assert "holds a credential" in one_error(proc)
    assert_nowhere(key, tmp_path, proc)


@pytest.mark.slow
def test_environment_secrets_in_settings_reach_no_file_of_a_run(tmp_path):
    """A secret where one belongs (a Hub token from the environment) runs, and is redacted in
    config.yaml, results.json, ptlab.log, the console and the files Hydra itself writes."""
    secret = "zq" + uuid.uuid4().hex
    log_dir = tmp_path / "runs"
    args = [*QUICK_RUN, "++model.hub_token=${oc.env:HUB_SECRET}", "hydra.output_subdir=.hydra"]
    proc = ptlab(*args, log_dir=log_dir, env={"HUB_SECRET": secret})
    assert proc.returncode == 0, proc.stderr[-3000:]
    [run] = run_dirs(log_dir)
    assert OmegaConf.load(run / "config.yaml").model.hub_token == "<redacted>"
    assert OmegaConf.load(run / ".hydra" / "config.yaml").model.hub_token == "<redacted>"
    assert {p.name for p in (run / ".hydra").iterdir()} == {"config.yaml", "hydra.yaml", "overrides.yaml"}
    assert_nowhere(secret, tmp_path, proc)


@pytest.mark.slow
def test_a_secret_echoed_by_a_failing_run_reaches_no_file(tmp_path):
    """Any error may echo a secret (here Lightning's, naming a trainer setting read from the
    environment): the console line, the record's error and traceback and ptlab.log are scrubbed."""
    secret = "zq" + uuid.uuid4().hex
    log_dir = tmp_path / "runs"
    proc = ptlab(
        *QUICK_RUN, "trainer.accelerator=${oc.env:DEVICE_SECRET}", log_dir=log_dir, env={"DEVICE_SECRET": secret}
    )
    assert "accelerator='<redacted>'" in one_error(proc)
    [run] = run_dirs(log_dir)
    assert record(run)["status"] == "failed" and "'<redacted>'" in record(run)["traceback"]
    assert "accelerator='<redacted>'" in (run / "ptlab.log").read_text()
    assert_nowhere(secret, tmp_path, proc)
