"""One run's life: one composed config trains and evaluates any model x method x task.

Order matters for a researcher's time: the config is validated, the run dir checked and the data
read and tokenized before the model (the slow part) loads, so bad input fails in seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Dict, Optional

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from ptlab.scoring import baselines
from ptlab.config import redaction
from ptlab.run import review, lock as run_lock
from ptlab.run.build import build_run, build_trainer
from ptlab.config.schema import RunConfig
from ptlab.errors import ConfigError, PtlabError
from ptlab.run.fingerprint import fingerprint
from ptlab.models import prompt_fit
from ptlab.run.launch import global_rank, launch_token, rank_zero_decision, record_decision
from ptlab.run.directory import RunDir, inside
from ptlab.run.selection import best_of_run, logged_metrics, rule, validate_now
from ptlab.config.trainer import cut_short
from ptlab.run.preemption import Interrupted, Preempted, interruption, requeue, signum, watching
from ptlab.run.record import PeakMemory, now, read_results, remove_dead_temps, started_record, write_json, write_text
from ptlab.run.decision import Decision, check_run_dir
from ptlab.config.validation import validate


def train(cfg: DictConfig) -> Dict[str, Any]:
    """Run one job from a composed config; returns the results record."""
    run = validate(cfg)
    _check_launch(run)
    out = RunDir(inside(run.paths.log_dir, run.paths.output_dir))  # never a path outside the log dir
    rank, token = global_rank(), launch_token()
    resolved = redaction.recordable(cfg)  # secrets redacted (and refused where they would count)
    prints = fingerprint(run, resolved)  # reads only: a failure here leaves nothing behind
    with run_lock.owning(out) if rank == 0 else contextlib.nullcontext():
        decision = _decide(out, run, prints, resolved, token) if rank == 0 else rank_zero_decision(out, token)
        if decision.note:
            print(f"ptlab: {decision.note}", file=sys.stderr)
        if decision.action == "skip":
            print(f"ptlab: {out} holds a completed run; leaving it as it is (if_exists=rerun runs it again).")
            return read_results(out)
        return _run(run, cfg, out, resolved, prints, decision, rank, token)


def _decide(out: RunDir, run: RunConfig, prints: Dict[str, Any], resolved: Dict[str, Any], token: str) -> Decision:
    """Rank 0's decision about the run dir, recorded for the other ranks (a refusal too)."""
    try:
        decision = check_run_dir(out, run.if_exists.value, prints, resolved)
    except PtlabError as err:
        record_decision(out, token, Decision("refused"), str(err))
        raise
    record_decision(out, token, decision)
    return decision


def _run(
    run: RunConfig,
    cfg: DictConfig,
    out: RunDir,
    resolved: Dict[str, Any],
    prints: Dict[str, Any],
    decision: Decision,
    rank: int,
    token: str,
) -> Dict[str, Any]:
    """The run's life in its (owned) dir: a `running` record, the work, the final record; Ctrl-C
    anywhere in it is recorded as `interrupted` and ends in one line (exit 130, ptlab/train.py)."""
    if rank == 0:
        remove_dead_temps(out)  # a killed run's half-written files: this launch holds the lock
    if rank == 0 and not out.config.exists():  # a resumed run keeps its first config
        write_text(out.config, OmegaConf.to_yaml(OmegaConf.create(resolved)))
    record = {
        **started_record(run, out, redacted_overrides()),
        "fingerprint": prints,
        "launch": token,
        "action": decision.action,
        "resume_from": str(decision.checkpoint) if decision.checkpoint else None,
    }
    if rank == 0:
        write_json(out.results, record)  # status "running": a killed run is visible as unfinished
    try:
        return _live(run, cfg, out, resolved, decision, record, rank)
    except BaseException as err:
        if not interruption(err):
            raise
        if rank == 0 and record["status"] == "running":  # Ctrl-C before _live's handler (importing lightning)
            write_json(out.results, {**record, "status": "interrupted", "error": INTERRUPTED, "finished_at": now()})
        left = next((path for path in out.resumable if path.exists()), None)
        raise Interrupted(
            f"interrupted; run the same command to resume from {left}" if left else "interrupted"
        ) from None


INTERRUPTED = "interrupted by Ctrl-C (SIGINT)"


def _live(
    run: RunConfig,
    cfg: DictConfig,
    out: RunDir,
    resolved: Dict[str, Any],
    decision: Decision,
    record: Dict[str, Any],
    rank: int,
) -> Dict[str, Any]:
    """The work, its log routed to ptlab.log, and the final record, whatever ends it."""
    started = time.perf_counter()
    live: Dict[str, Any] = {}  # the trainer and module, for closing the W&B run at the end
    preempted: Optional[Preempted] = None
    from ptlab.run import console  # imports lightning: the console module routes its logging

    with watching(run.preemption) as flag, console.routed(run, out, decision.action):
        try:
            record.update(_execute(run, cfg, out, resolved, live, decision.checkpoint, flag))
            record["status"], record["error"] = "completed", None
        except BaseException as err:
            if isinstance(err, Preempted) or flag.received:  # also Lightning's own SIGTERM stop mid-eval
                preempted = err if isinstance(err, Preempted) else Preempted(flag.received, None, None)
                record["status"], record["error"] = "preempted", str(preempted)
            elif interruption(err):
                record["status"], record["error"] = "interrupted", INTERRUPTED
                raise
            else:
                record["status"], record["error"] = "failed", f"{type(err).__name__}: {err}"
                record["traceback"] = traceback.format_exc()
                raise
        finally:
            record["time"] = {**record.get("time", {}), "total_seconds": time.perf_counter() - started}
            record["finished_at"] = now()
            if rank == 0:
                write_json(out.results, record)
            if live:
                review.finish(live["trainer"], live["module"].predictions, out.results, record["status"])
    if preempted:
        print(f"ptlab: {preempted}; {requeue(preempted, run.preemption)}", file=sys.stderr)
        raise SystemExit(128 + signum(preempted.signame))  # not a return: a wrapper must not record a result
    print(console.results_line(record, out.results), flush=True)
    return record


def _execute(
    run: RunConfig,
    cfg: DictConfig,
    out: RunDir,
    resolved: Dict[str, Any],
    live: Dict[str, Any],
    resume_from: Optional[Path],
    flag,
) -> Dict[str, Any]:
    data, module = build_run(run)
    trains = module.method.trains
    trainer = build_trainer(cfg, run, out, flag)
    live.update(trainer=trainer, module=module)
    review.start(trainer, resolved, run.task.main_metric, module.parameter_counts())
    memory = PeakMemory("cuda" if trainer.strategy.root_device.type == "cuda" else "cpu")
    memory.reset()
    main = run.task.main_metric
    result: Dict[str, Any] = {
        "params": module.parameter_counts(),
        "method_details": module.method.summary(),  # e.g. in-context: the demonstrations used
        "data": {split: len(examples) for split, examples in data.raw.items()},  # as drawn (k, limits)
        # Selection (best checkpoint, tuning) reads validation only; test, when the task has one, is
        # only reported. Without one, the reported score is the selection split's (optimistic).
        "splits": {
            "selected_on": "validation",
            "reported": "test" if data.has_test else "validation",
            "from": data.origins,
            "dropped_as_in_test": data.dropped,  # examples whose inputs the reported split also has
            "selection_data": data.selection,  # validation's overlap with the training pool; words (carve.py)
        },
        "tokenization_cache_hit": data.cache_hits,
        "truncation": data.truncation,  # per split: prompts cut to max_source_length, answers lost
        "metric_notes": data.kind.metric_notes(),  # e.g. sacreBLEU's signatures
        "world_size": trainer.world_size,
    }

    short = (
        cut_short(run.trainer, len(data.splits["train"]), run.data.batch_size, trainer.world_size) if trains else None
    )
    cut = prompt_fit.note(result["truncation"], run.task)
    for line in filter(None, (short, cut)) if trainer.global_rank == 0 else ():
        print(f"ptlab: note: {line}", file=sys.stderr)
    fit_started = time.perf_counter()
    if trains:
        trainer.fit(module, datamodule=data, ckpt_path=str(resume_from) if resume_from else None, weights_only=True)
    train_seconds = time.perf_counter() - fit_started if trains else 0.0

    eval_started = time.perf_counter()
    if module.last_val and module.last_val[0] == trainer.global_step:
        final = module.last_val[1]  # training ended on a validation: no need to score twice
    else:
        final = validate_now(trainer, module, data)
    best, best_step = final, trainer.global_step
    if trains:
        best, best_step = best_of_run(trainer, module, data, final, data.kind.metrics[main], out)
    test = logged_metrics(trainer.test(module, datamodule=data, verbose=False)[0], "test") if data.has_test else None
    eval_seconds = time.perf_counter() - eval_started

    result["resumed_from_step"] = module.start_step if resume_from else None
    if trainer.global_rank != 0:
        return result
    for split in ("val", "test"):
        if module.predictions[split]:
            _write_jsonl(out.predictions(split), module.predictions[split])
    scores = {"validation": best, "test": test}  # the predictions' checkpoint (the selected one)
    result["baselines"] = baselines.of_run(data.kind, module.reader.has_lm_head, data.raw, module.predictions, scores)
    if trains and run.method.export_adapter:
        module.method.export(module.model, out.adapter)
    result.update(
        {
            "main_metric": main,
            "metrics": {"val_final": final, "val_best": best, "test": test},
            "best": {
                "step": best_step,
                "checkpoint": out.rel(out.best_ckpt) if trains else None,
                "rule": rule(data.kind.metrics[main]),
            },
            "memory": memory.read(),
            "time": {
                "train_seconds": train_seconds,
                "train_step_seconds": module.train_seconds,
                "eval_seconds": eval_seconds,
            },
            "throughput": {
                "train_tokens": module.train_tokens,
                "train_tokens_per_second": module.train_tokens / module.train_seconds if module.train_seconds else None,
                "padding_fraction": module.padding_fraction,
            },
        }
    )
    return result


def _check_launch(run: RunConfig) -> None:
    """Lightning starts extra local ranks by re-running the command, which in a multirun would
    re-run the whole sweep in every rank; sweeps get their ranks from srun/torchrun instead."""
    devices, nodes = run.trainer.get("devices", 1), run.trainer.get("num_nodes", 1)
    many = nodes != 1 or devices not in (1, "1", "auto", None, [0])
    started_elsewhere = any(k in os.environ for k in ("SLURM_NTASKS", "WORLD_SIZE", "LOCAL_RANK"))
    if many and not started_elsewhere and HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        raise ConfigError(
            f"trainer.devices={devices} (num_nodes={nodes}) in a local multirun: run one configuration "
            f"per command, or sweep with hydra/launcher=slurm (one task per device), or start the ranks "
            f"with torchrun/srun."
        )


def command_line() -> list:
    """This job's overrides (a sweep point's own, in a submitit job too), else the process's args."""
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else sys.argv[1:]


def redacted_overrides() -> list:
    return [redaction.redact_override(o) for o in command_line()]


def _write_jsonl(path: Path, rows) -> None:
    write_text(path, "".join(json.dumps(r, default=str) + "\n" for r in rows))
