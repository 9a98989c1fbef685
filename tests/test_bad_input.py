"""Bad input through the real CLI: every mistake a researcher can make ends the process non-zero
with ONE line `ptlab: error: ...` naming the offending key, file or line (no traceback), config
mistakes fail before anything is written, a completed run is never touched again, and the shipped
defaults are safe (no remote code; checkpoints load with `weights_only=True`).

Each case is a `python -m ptlab.train` subprocess: ~1 s for a config error, ~10 s for a data error
(lightning/peft are imported before the data is read), ~15-20 s for a tiny model run.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Optional, Tuple

import pytest
from omegaconf import OmegaConf

from ptlab.config.schema import ModelConfig

from cli import PROCESS_TIMEOUT, REAL_DATA, ptlab_cmd, ptlab_env
from mounts import tmpfs

REPO = Path(__file__).resolve().parents[1]
needs_real_data = pytest.mark.skipif(
    not (REAL_DATA / "sst2").is_dir(), reason=f"real datasets not found at {REAL_DATA}"
)
ERROR = "ptlab: error:"
CONFIG_TIMEOUT = 300  # a config error returns in ~1 s; this only catches a hang
RUN_TIMEOUT = PROCESS_TIMEOUT


def ptlab(
    *overrides: str,
    log_dir: Path,
    cache: Path,
    data_dir: Optional[Path | str] = None,
    timeout: int = RUN_TIMEOUT,
) -> subprocess.CompletedProcess:
    return subprocess.run(
        ptlab_cmd(*overrides),
        env=ptlab_env(log_dir, cache, data_dir),
        cwd=log_dir.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def error_line(proc: subprocess.CompletedProcess) -> str:
    """The one `ptlab: error:` line of a failed run (and no traceback anywhere in stderr)."""
    shown = f"\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    assert proc.returncode != 0, shown
    assert "Traceback" not in proc.stderr, shown
    lines = [line for line in proc.stderr.splitlines() if line.startswith(ERROR)]
    assert len(lines) == 1, shown
    return lines[0]


def written(log_dir: Path) -> list:
    """What ptlab itself wrote under the log dir (Hydra's own job log aside)."""
    if not log_dir.exists():
        return []
    return sorted(str(p.relative_to(log_dir)) for p in log_dir.rglob("*") if p.is_file() and p.name != "train.log")


def run_dir_of(proc: subprocess.CompletedProcess) -> Path:
    found = re.search(r"^ptlab: results in (.+)$", proc.stdout, re.MULTILINE)
    assert found, f"stdout names no results.json:\n{proc.stdout}\n{proc.stderr}"
    path = Path(found.group(1).strip())
    assert path.name == "results.json" and path.is_file()
    return path.parent


def snapshot(run_dir: Path) -> Dict[str, Tuple[str, str, int]]:
    """Every entry under a run dir: kind, sha256 (files) and mtime in ns. The lock and the
    launch's decision are not the run's content: every launch writes them before deciding."""
    state = {}
    for p in sorted(q for q in run_dir.rglob("*") if q.name not in (".lock", ".decision")):
        st = p.stat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        state[str(p.relative_to(run_dir))] = ("file" if p.is_file() else "dir", digest, st.st_mtime_ns)
    return state


# ---------------------------------------------------------------- config errors (no model, ~1 s)

CONFIG_ERRORS = {
    # id: (overrides, needles in the error line)
    "report-margin-0": (["report.margin=0"], ["report.margin=0", "positive number of points"]),
    "prefix-with-checkpointing": (
        ["model=tiny-llama", "method=prefix_tuning", "model.gradient_checkpointing=true"],
        ["model.gradient_checkpointing=true", "method=prefix_tuning", "refuses activation checkpointing"],
    ),
    "bf16-base-without-autocast": (
        ["model=tiny-llama", "method=lora", "+model.dtype=bfloat16"],
        ["model.dtype=bfloat16", "trainer.precision=32-true", "set trainer.precision=bf16-mixed"],
    ),
    "prefix-num_virtual_tokens-0": (
        ["model=tiny-llama", "method=prefix_tuning", "method.num_virtual_tokens=0"],
        ["method.num_virtual_tokens", "> 0", "got 0"],
    ),
    "prefix-num_virtual_tokens-neg": (
        ["model=tiny-llama", "method=prefix_tuning", "method.num_virtual_tokens=-3"],
        ["method.num_virtual_tokens", "> 0", "got -3"],
    ),
    "prompt-num_virtual_tokens-0": (
        ["model=tiny-bert", "method=prompt_tuning", "method.num_virtual_tokens=0"],
        ["method.num_virtual_tokens", "> 0", "got 0"],
    ),
    "lr-0": (["model=tiny-bert", "method=full_finetune", "method.lr=0"], ["method.lr", "> 0", "got 0"]),
    "lr-neg": (["model=tiny-bert", "method=full_finetune", "method.lr=-1"], ["method.lr", "> 0", "got -1"]),
    "lr-not-a-float": (["model=tiny-bert", "method=full_finetune", "method.lr=abc"], ["method.lr", "abc"]),
    "zero_shot-on-encoder": (
        ["model=tiny-bert", "method=zero_shot"],
        ["method=zero_shot", "model=tiny-bert", "LM head"],
    ),
    "generation-on-encoder": (
        ["model=tiny-bert", "method=full_finetune", "task=e2e_nlg"],
        ["task=e2e_nlg", "model=tiny-bert", "generat"],
    ),
    # Unknown keys, added with `+`, are typos: named, with the closest known key.
    "unknown-top-level-key": (
        ["model=tiny-bert", "method=full_finetune", "+sed=3"],
        ["unknown key sed", "did you mean seed?"],
    ),
    "unknown-group": (
        ["model=tiny-bert", "method=full_finetune", "+trainr.max_steps=3"],
        ["unknown key trainr", "did you mean trainer?"],
    ),
    "unknown-method-key": (
        ["model=tiny-bert", "method=full_finetune", "+method.lrr=3"],
        ["unknown key method.lrr", "did you mean method.lr?"],
    ),
    "unknown-nested-key": (
        ["model=tiny-bert", "method=full_finetune", "+task.local.formt=csv"],
        ["unknown key task.local.formt", "did you mean task.local.format?"],
    ),
    "unknown-trainer-key": (
        ["model=tiny-bert", "method=full_finetune", "+trainer.max_stpes=3"],
        ["unknown key trainer.max_stpes", "did you mean trainer.max_steps?"],
    ),
    # The same typos without `+`: the same line (Hydra's advice to append the typo with `+` would
    # only move the error); a key ptlab knows but the config does not set gets that advice.
    "unknown-top-level-key-without-plus": (
        ["model=tiny-bert", "method=full_finetune", "sed=3"],
        ["unknown key sed", "did you mean seed?"],
    ),
    "unknown-group-without-plus": (
        ["model=tiny-bert", "method=full_finetune", "trainr.max_steps=3"],
        ["unknown key trainr", "did you mean trainer?"],
    ),
    "unknown-method-key-without-plus": (
        ["model=tiny-bert", "method=full_finetune", "method.lrr=1"],
        ["unknown key method.lrr", "did you mean method.lr?"],
    ),
    "unknown-nested-key-without-plus": (
        ["model=tiny-bert", "method=full_finetune", "task.local.formt=csv"],
        ["unknown key task.local.formt", "did you mean task.local.format?"],
    ),
    "unknown-trainer-key-without-plus": (
        ["model=tiny-bert", "method=full_finetune", "trainer.max_stpes=3"],
        ["unknown key trainer.max_stpes", "did you mean trainer.max_steps?"],
    ),
    "known-key-without-plus": (
        ["model=tiny-bert", "method=full_finetune", "model.dtype=bfloat16"],
        ["model.dtype is not in the composed config", "+model.dtype=bfloat16"],
    ),
    # Lightning's own checks come only after the model has loaded: ptlab checks these first.
    "trainer-max_steps-neg": (
        ["model=tiny-bert", "method=full_finetune", "trainer.max_steps=-5"],
        ["trainer.max_steps=-5", "an integer >= -1"],
    ),
    "trainer-val-fraction-without-epochs": (
        ["model=tiny-bert", "method=full_finetune", "trainer.val_check_interval=1.0"],
        ["trainer.val_check_interval=1.0", "trainer.check_val_every_n_epoch"],
    ),
    "trainer-accumulate-0": (
        ["model=tiny-bert", "method=full_finetune", "trainer.accumulate_grad_batches=0"],
        ["trainer.accumulate_grad_batches=0", "an integer >= 1"],
    ),
    "trainer-precision": (
        ["model=tiny-bert", "method=full_finetune", "trainer.precision=int3"],
        ["trainer.precision='int3'", "bf16-mixed"],
    ),
    # Every choice is checked against its allowed values at validation, not mid-run.
    "schedule-choice": (
        ["model=tiny-bert", "method=full_finetune", "method.schedule=linaer"],
        ["method.schedule", "'linaer'", "cosine"],
    ),
    "dtype-choice": (
        ["model=tiny-bert", "method=full_finetune", "+model.dtype=bf16"],
        ["model.dtype", "'bf16'", "bfloat16"],
    ),
    "format-choice": (
        ["model=tiny-bert", "method=full_finetune", "task.local.format=parquet"],
        ["task.local.format", "'parquet'", "jsonl"],
    ),
    "trainer-set-by-ptlab": (
        ["model=tiny-bert", "method=full_finetune", "+trainer.logger=false"],
        ["trainer.logger is set by ptlab"],
    ),
    # Task kinds and methods come from their registries: an unknown one is named, never guessed.
    "unknown-kind": (
        ["model=tiny-bert", "method=full_finetune", "task.kind=clasification"],
        ["task.kind='clasification'", "did you mean task.kind=classification?"],
    ),
    "unknown-method-name": (
        ["model=tiny-bert", "method=full_finetune", "method.name=lorra"],
        ["method.name='lorra'", "did you mean method.name=lora?"],
    ),
    "key-of-another-kind": (
        ["model=tiny-bert", "method=full_finetune", "+task.group_by=text"],
        ["unknown key task.group_by"],
    ),
    "partial-eval-of-length-sorted-batches": (
        ["model=tiny-llama", "method=zero_shot", "+trainer.limit_val_batches=0.25"],
        ["trainer.limit_val_batches=0.25", "longest prompts", "data.eval_limit=N"],
    ),
    "unknown-template": (
        ["model=tiny-llama", "method=zero_shot", "task.template=revieww"],
        ["task.template='revieww'", "did you mean task.template=review?"],
    ),
    # An API model has no local weights: training methods, beams and its settings are checked up front.
    "training-an-api-model": (
        ["model=api", "method=full_finetune"],
        ["method=full_finetune", "model=api", "no local weights"],
    ),
    "api-beam-search": (
        ["model=api", "method=zero_shot", "task=e2e_nlg", "decode.num_beams=4"],
        ["decode.num_beams=4", "model=api", "num_beams=1"],
    ),
    "api-concurrency-0": (
        ["model=api", "method=zero_shot", "model.api.concurrency=0"],
        ["model.api.concurrency", "> 0", "got 0"],
    ),
    "api-settings-on-a-local-model": (
        ["model=tiny-llama", "method=zero_shot", "+model.api.model=x"],
        ["model.api", "family api only", "causal"],
    ),
}


@pytest.mark.parametrize("overrides, needles", CONFIG_ERRORS.values(), ids=CONFIG_ERRORS.keys())
def test_config_error_is_one_line_and_writes_nothing(overrides, needles, tmp_path, cli_cache):
    log_dir = tmp_path / "runs"
    start = time.perf_counter()
    proc = ptlab(
        *overrides, "debug=smoke", log_dir=log_dir, cache=cli_cache, data_dir=REAL_DATA, timeout=CONFIG_TIMEOUT
    )
    seconds = time.perf_counter() - start
    line = error_line(proc)
    for needle in needles:
        assert needle in line, line
    assert "append" not in line, line  # Hydra's advice to append a key with `+`, given for typos too
    # Fails at validation, before the run dir is checked or written and before any load; the
    # run dir Hydra made is removed again (no empty directories left behind).
    assert not log_dir.exists() or list(log_dir.rglob("*")) == [], list(log_dir.rglob("*"))
    print(f"{overrides}: exit {proc.returncode} in {seconds:.1f} s: {line}")


def test_a_secret_in_a_rejected_key_is_not_echoed(tmp_path, cli_cache):
    secret = "s3cr3t-" + "9f8e7d"
    log_dir = tmp_path / "runs"
    for override in (f"+db_password={secret}", f"model.hub_token={secret}"):  # unknown; needs `+`
        proc = ptlab(
            "model=tiny-bert",
            "method=full_finetune",
            override,
            log_dir=log_dir,
            cache=cli_cache,
            timeout=CONFIG_TIMEOUT,
        )
        line = error_line(proc)
        assert secret not in proc.stdout + proc.stderr, line
    assert not log_dir.exists() or list(log_dir.rglob("*")) == []


@pytest.mark.slow
def test_sweep_point_failing_validation_is_recorded_as_failed(tmp_path, cli_cache):
    """One bad value in a sweep: the other points run, the bad one gets a `failed` results.json
    (so the table counts it), and the sweep exits non-zero naming it."""
    log_dir = tmp_path / "runs"
    proc = ptlab(
        "-m",
        "model=tiny-llama",
        "method=prompt_tuning",
        "debug=smoke",
        "method.lr=0.01,-1",
        log_dir=log_dir,
        cache=cli_cache,
        data_dir=REAL_DATA,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    records = {p.parent.name: json.loads(p.read_text()) for p in log_dir.rglob("results.json")}
    assert {name: r["status"] for name, r in records.items()} == {
        "debug=smoke,method.lr=-1": "failed",
        "debug=smoke,method.lr=0.01": "completed",
    }
    bad = records["debug=smoke,method.lr=-1"]
    assert "method.lr must be > 0, got -1" in bad["error"] and bad["method"] == "prompt_tuning"
    assert "1 completed, 1 failed" in proc.stdout or "failed (n=1)" in proc.stdout, proc.stdout
    assert "method.lr=-1" in proc.stderr.split("did not complete")[-1]


def test_config_error_comes_before_any_heavy_import(tmp_path, cli_cache):
    """A bad value is reported before torch, transformers, lightning or peft is imported (the
    imports are most of a run's start-up; the benchmark times the error at well under 1 s)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *ptlab_cmd("model=tiny-bert", "method=full_finetune", "method.lr=0")[1:]],
        env=ptlab_env(tmp_path / "runs", cli_cache),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=CONFIG_TIMEOUT,
    )
    assert "method.lr" in error_line(proc)
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert {"ptlab.config", "omegaconf", "hydra"} <= imported  # the reading is real
    assert not {"torch", "transformers", "lightning", "peft"} & imported


@pytest.mark.parametrize("group", ["model", "method", "task"])
def test_unknown_group_option_names_group_and_option(group, tmp_path, cli_cache):
    log_dir = tmp_path / "runs"
    proc = ptlab(f"{group}=nope", "debug=smoke", log_dir=log_dir, cache=cli_cache, timeout=CONFIG_TIMEOUT)
    assert proc.returncode != 0
    assert f"Could not find '{group}/nope'" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert written(log_dir) == []


# ---------------------------------------------------------------- data errors (~10 s each)


def sst2_dir(root: Path, train: bytes | None = None, dev: bytes | None = None) -> Path:
    """`<root>/sst2/{train,dev}.tsv`, valid unless `train` / `dev` content is given.

    The valid train split has 892 rows: sst2.yaml carves 872 for validation, and debug=smoke draws
    data.k=16 from the other 20."""
    rows = [f"a {'fine' if i % 2 else 'dull'} film number {i} .\t{i % 2}\n" for i in range(896)]
    good_train = ("sentence\tlabel\n" + "".join(rows[:892])).encode()
    good_dev = ("sentence\tlabel\n" + "".join(rows[892:])).encode()
    folder = root / "sst2"
    folder.mkdir(parents=True)
    (folder / "train.tsv").write_bytes(good_train if train is None else train)
    (folder / "dev.tsv").write_bytes(good_dev if dev is None else dev)
    return root


TRAIN_FIRST_ROWS = b"sentence\tlabel\nwarm and witty .\t1\n"
DATA_ERRORS = {
    # id: (train.tsv, dev.tsv, the file named, the line named (None: whole file), needles)
    "missing-column": (None, b"text\tlabel\nwarm .\t1\n", "dev.tsv", 1, ["'sentence'", "task.columns.text"]),
    "label-without-verbalizer": (
        None,
        b"sentence\tlabel\nwarm .\t1\ncold .\t7\n",
        "dev.tsv",
        3,
        ["'7'", "no verbalizer"],
    ),
    "empty-split": (None, b"sentence\tlabel\n", "dev.tsv", None, ["no rows"]),
    "not-utf8": (TRAIN_FIRST_ROWS + b"caf\xff\xfe film .\t1\n" + b"dull .\t0\n" * 18, None, "train.tsv", 3, ["UTF-8"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("train, dev, file, line_no, needles", DATA_ERRORS.values(), ids=DATA_ERRORS.keys())
def test_bad_data_file_names_file_and_line(train, dev, file, line_no, needles, tmp_path, cli_cache):
    data_dir = sst2_dir(tmp_path / "data", train=train, dev=dev)
    proc = ptlab(
        "model=tiny-bert",
        "method=full_finetune",
        "debug=smoke",
        log_dir=tmp_path / "runs",
        cache=cli_cache,
        data_dir=data_dir,
    )
    line = error_line(proc)
    path = data_dir / "sst2" / file
    where = f"{path}:{line_no}:" if line_no else f"{path}:"
    assert where in line, line
    for needle in needles:
        assert needle in line, line


@pytest.mark.slow
def test_missing_data_dir_is_named(tmp_path, cli_cache):
    proc = ptlab(
        "model=tiny-bert",
        "method=full_finetune",
        "debug=smoke",
        log_dir=tmp_path / "runs",
        cache=cli_cache,
        data_dir="/nonexistent",
    )
    line = error_line(proc)
    assert "/nonexistent" in line and "does not exist" in line, line


@pytest.mark.slow
def test_data_dir_without_task_folder_names_the_folder(tmp_path, cli_cache):
    data_dir = tmp_path / "data"
    (data_dir / "rte").mkdir(parents=True)  # some other task's folder only
    proc = ptlab(
        "model=tiny-bert",
        "method=full_finetune",
        "debug=smoke",
        log_dir=tmp_path / "runs",
        cache=cli_cache,
        data_dir=data_dir,
    )
    line = error_line(proc)
    assert str(data_dir / "sst2") in line and "does not exist" in line, line


@pytest.mark.slow
def test_fixing_bad_data_and_rerunning_keeps_the_failed_attempt(tmp_path, cli_cache):
    data_dir = sst2_dir(tmp_path / "data", dev=b"sentence\tlabel\nwarm .\t1\ncold .\t7\n")
    args = ("model=tiny-bert", "method=full_finetune", "debug=smoke")
    log_dir = tmp_path / "runs"
    assert "no verbalizer" in error_line(ptlab(*args, log_dir=log_dir, cache=cli_cache, data_dir=data_dir))
    (data_dir / "sst2" / "dev.tsv").write_bytes(b"sentence\tlabel\nwarm .\t1\ncold .\t0\n")
    proc = ptlab(*args, log_dir=log_dir, cache=cli_cache, data_dir=data_dir)
    run_dir = run_dir_of(proc)
    assert json.loads((run_dir / "results.json").read_text())["status"] == "completed"
    failed = json.loads((run_dir / "attempts" / "1" / "results.json").read_text())
    assert failed["status"] == "failed" and "no verbalizer" in failed["error"]
    assert (run_dir / "attempts" / "1" / "config.yaml").is_file()


# ---------------------------------------------------------------- a completed run is never touched


@pytest.mark.slow
@needs_real_data
def test_completed_run_is_skipped_refused_or_rerun_and_never_lost(tmp_path, cli_cache):
    log_dir = tmp_path / "runs"
    command = ["model=tiny-llama", "method=zero_shot", "debug=smoke"]
    first = ptlab(*command, log_dir=log_dir, cache=cli_cache, data_dir=REAL_DATA)
    assert first.returncode == 0, first.stderr
    run_dir = run_dir_of(first)
    assert json.loads((run_dir / "results.json").read_text())["status"] == "completed"
    before = snapshot(run_dir)
    assert "results.json" in before and "config.yaml" in before

    again = ptlab(*command, log_dir=log_dir, cache=cli_cache, data_dir=REAL_DATA)  # default: resume
    assert again.returncode == 0, again.stderr
    assert f"{run_dir} holds a completed run; leaving it as it is" in again.stdout, again.stdout
    assert snapshot(run_dir) == before  # same files, same bytes, same mtimes, nothing new

    refused = ptlab(*command, "if_exists=refuse", log_dir=log_dir, cache=cli_cache, data_dir=REAL_DATA)
    line = error_line(refused)
    assert "refusing" in line and str(run_dir) in line and "completed" in line, line
    assert snapshot(run_dir) == before

    rerun = ptlab(*command, "if_exists=rerun", log_dir=log_dir, cache=cli_cache, data_dir=REAL_DATA)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads((run_dir / "results.json").read_text())["status"] == "completed"
    archived = snapshot(run_dir / "attempts" / "1")  # the first run, moved aside byte for byte
    assert {k: v[:2] for k, v in archived.items()} == {k: v[:2] for k, v in before.items()}


# ---------------------------------------------------------------- safe defaults


@pytest.mark.parametrize("path", sorted((REPO / "conf" / "model").glob("*.yaml")), ids=lambda p: p.stem)
def test_no_model_config_trusts_remote_code(path):
    raw = OmegaConf.load(path)
    assert raw.get("trust_remote_code", False) is False
    merged = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(ModelConfig), raw))
    assert merged.trust_remote_code is False


@pytest.mark.slow
@needs_real_data
def test_prefix_tuning_checkpoint_loads_weights_only_and_holds_only_the_prefix(tmp_path, cli_cache):
    import torch
    from peft import PeftConfig

    proc = ptlab(
        "model=tiny-llama",
        "method=prefix_tuning",
        "debug=smoke",
        log_dir=tmp_path / "runs",
        cache=cli_cache,
        data_dir=REAL_DATA,
    )
    assert proc.returncode == 0, proc.stderr
    run_dir = run_dir_of(proc)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "completed"
    assert results["best"]["checkpoint"] == "checkpoints/best.ckpt"

    ckpt = torch.load(run_dir / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    keys = list(ckpt["state_dict"])
    assert keys and all(k.startswith("model.prompt_encoder.") for k in keys), keys
    assert sum(v.numel() for v in ckpt["state_dict"].values()) == results["params"]["trainable"]

    assert (run_dir / "adapter" / "adapter_config.json").is_file()
    adapter = PeftConfig.from_pretrained(str(run_dir / "adapter"))
    assert adapter.peft_type.value == "PREFIX_TUNING"
    assert adapter.num_virtual_tokens == 10


def test_read_only_output_dir_is_one_line_naming_it(tmp_path, cli_cache):
    """A log dir on a read-only filesystem (a real read-only tmpfs): Hydra cannot even make the
    run dir. One line names the directory and the setting to change; PTLAB_DEBUG=1 shows the
    traceback instead."""
    with tmpfs(tmp_path / "ro", "size=1m,ro") as mount:
        args = ("model=tiny-bert", "method=full_finetune", "debug=smoke")
        line = error_line(
            ptlab(*args, log_dir=mount / "runs", cache=cli_cache, data_dir=REAL_DATA, timeout=CONFIG_TIMEOUT)
        )
        assert "Read-only file system" in line and str(mount / "runs") in line and "PTLAB_LOG_DIR" in line, line
        debug = subprocess.run(
            ptlab_cmd(*args),
            env={**ptlab_env(mount / "runs", cli_cache, REAL_DATA), "PTLAB_DEBUG": "1"},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=CONFIG_TIMEOUT,
        )
        assert debug.returncode != 0 and "Traceback" in debug.stderr
