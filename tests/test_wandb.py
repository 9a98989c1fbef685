"""`logger=all` (W&B + TensorBoard + CSV): an offline W&B run (no API key) lands in the run dir
with the resolved config (secrets redacted), identity, best-value summary, prediction table and results artifact;
a secret given on the command line reaches no file W&B writes.

wandb 0.31 writes offline runs as a LevelDB-style log of protobuf `Record`s (run-<id>.wandb);
`records` reads it with wandb's own protobuf classes, as `wandb sync` would."""

import json
import os
import struct
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cli import PROCESS_TIMEOUT, ptlab_cmd, ptlab_env

pytestmark = pytest.mark.slow
BLOCK = 32768


def records(path: Path):
    from wandb.proto import wandb_internal_pb2 as pb

    raw, pos, pending = path.read_bytes(), 7, b""  # 7-byte file header: b":W&B" + magic + version
    while pos + 7 <= len(raw):
        if BLOCK - pos % BLOCK < 7:  # block trailer padding
            pos += BLOCK - pos % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", raw[pos : pos + 7])
        pending += raw[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            record = pb.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def by_kind(log: Path):
    """A .wandb file's records, grouped by kind (run, config, environment, summary, ...)."""
    seen = {}
    for record in records(log):
        kind = record.WhichOneof("record_type")
        seen.setdefault(kind, []).append(getattr(record, kind))
    return seen


def test_offline_wandb_run_holds_config_summary_table_and_artifact(tmp_path, data_dir):
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PTLAB_DATA_DIR": str(data_dir),
        "PTLAB_LOG_DIR": str(tmp_path / "runs"),
        "PTLAB_CACHE_DIR": str(tmp_path / "cache"),
        "HOME": str(tmp_path),
        "PTLAB_TEST_TOKEN": "s3cr3t-value",
    }
    env.pop("WANDB_API_KEY", None)
    env.pop("WANDB_MODE", None)
    args = [
        "model=tiny-llama",
        "method=prefix_tuning",
        "logger=all",
        "debug=smoke",
        "name=wb",
        "++model.hub_token=${oc.env:PTLAB_TEST_TOKEN}",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "ptlab.train", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    [results_path] = (tmp_path / "runs").rglob("results.json")
    run_dir = results_path.parent
    [log] = run_dir.glob("wandb/offline-run-*/run-*.wandb")  # offline: no key, no netrc
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    board = EventAccumulator(str(run_dir / "tensorboard"))  # logger=all: W&B + TensorBoard + CSV
    board.Reload()
    assert {"train/loss", "val/accuracy"} <= set(board.Tags()["scalars"])
    assert "val/accuracy" in (run_dir / "metrics.csv").read_text()

    seen = by_kind(log)
    run = seen["run"][0]
    assert (run.run_group, run.job_type) == ("wb", "prefix_tuning")
    assert set(run.tags) == {"tiny-llama", "prefix_tuning", "sst2"}
    config = {u.key: json.loads(u.value_json) for c in seen["config"] for u in c.update}
    assert config["model"]["name"] == "tiny-llama" and config["method"]["num_virtual_tokens"] == 10
    assert config["model"]["hub_token"] == "<redacted>"
    summary = {u.key or ".".join(u.nested_key): json.loads(u.value_json) for s in seen["summary"] for u in s.update}
    results = json.loads(results_path.read_text())
    assert summary["params/trainable"] == results["params"]["trainable"]
    assert summary["val/accuracy"]["max"] == pytest.approx(results["metrics"]["val_best"]["accuracy"])
    assert any(a.type == "results" for a in seen["artifact"])
    [table] = log.parent.glob("files/media/table/predictions/val_*.table.json")
    table = json.loads(table.read_text())
    assert table["columns"][:2] == ["prompt", "gold"] and "predicted" in table["columns"]
    assert len(table["data"]) == 16
    assert "s3cr3t-value" not in (run_dir / "config.yaml").read_text()
    assert "s3cr3t-value" not in json.dumps(config)

    # A rerun of the same command continues the same W&B run (stable id, resume="allow").
    again = subprocess.run(
        [sys.executable, "-m", "ptlab.train", *args, "if_exists=resume"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
    )
    assert again.returncode == 0 and log.name == f"run-{run.run_id}.wandb"


def test_secrets_on_the_command_line_reach_no_wandb_file(tmp_path, data_dir):
    """wandb keeps the process's command line (sys.argv) in the run's metadata, which `wandb sync`
    uploads: a secret override must be redacted there as in the config. A two-point sweep, one
    random secret per point and each point its own W&B run (if_exists=rerun); then every byte of
    every file under tmp_path (runs, .wandb logs, W&B's debug logs, its dir, cache, config, data and
    temp dirs, HOME) is searched for the raw values."""
    secrets = [uuid.uuid4().hex, uuid.uuid4().hex]
    dirs = {
        var: tmp_path / var.lower()
        for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR", "TMPDIR")
    }
    for path in dirs.values():
        path.mkdir()
    env = {
        **ptlab_env(tmp_path / "runs", tmp_path / "cache", data_dir),
        "HOME": str(tmp_path),
        **{var: str(path) for var, path in dirs.items()},
    }
    env.pop("WANDB_API_KEY", None)
    env.pop("WANDB_MODE", None)
    proc = subprocess.run(
        ptlab_cmd(
            "-m",
            "model=tiny-llama",
            "method=prompt_tuning",
            "logger=wandb",
            "debug=smoke",
            "name=secrets",
            "if_exists=rerun",
            f"++model.hub_token={','.join(secrets)}",
        ),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    logs = sorted((tmp_path / "runs").rglob("run-*.wandb"))
    assert len(logs) == 2  # one W&B run per sweep point
    for log in logs:
        seen = by_kind(log)
        config = {u.key: json.loads(u.value_json) for c in seen["config"] for u in c.update}
        assert config["model"]["hub_token"] == "<redacted>"
        [command] = [e for e in seen["environment"] if e.args]  # W&B's record of the command line
        assert "++model.hub_token=<redacted>" in command.args and "name=secrets" in command.args

    # ... and no file anywhere, W&B's or not: Hydra's multirun.yaml is rewritten redacted, and
    # stdout/stderr (CI and SLURM logs) never echo the values.
    hydra_record = tmp_path / "runs" / "secrets" / "multirun.yaml"
    assert "<redacted>" in hydra_record.read_text()
    assert not any(s in proc.stdout + proc.stderr for s in secrets)
    leaks = [
        str(p.relative_to(tmp_path))
        for p in sorted(tmp_path.rglob("*"))
        if p.is_file() and any(s.encode() in p.read_bytes() for s in secrets)
    ]
    assert not leaks


def test_logger_none_trains_with_no_logger_files(tmp_path, data_dir):
    """`logger=none` drops the LR monitor (Lightning refuses one with no logger) and writes no
    metrics files; the run's record and checkpoints are still there."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PTLAB_DATA_DIR": str(data_dir),
        "PTLAB_LOG_DIR": str(tmp_path / "runs"),
        "PTLAB_CACHE_DIR": str(tmp_path / "cache"),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "ptlab.train", "model=tiny-llama", "method=full_finetune", "logger=none", "debug=smoke"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    [results_path] = (tmp_path / "runs").rglob("results.json")
    run_dir = results_path.parent
    assert json.loads(results_path.read_text())["status"] == "completed"
    assert (run_dir / "checkpoints" / "last.ckpt").exists()
    assert not list(run_dir.rglob("metrics.csv")) and not (run_dir / "wandb").exists()
