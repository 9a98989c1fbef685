"""What a launch does with a run dir that may already hold a run: skip it, resume it from a
checkpoint, or start afresh with what was there moved aside, never lost (`check_run_dir`).
"""

from __future__ import annotations

import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from ptlab.errors import RunDirError
from ptlab.run.record import read_results
from ptlab.run.directory import CHECKPOINTS, METRICS_CSV, RESULTS, RUN_FILES, START_FILES, RunDir


# RUN_FILES (what a forced rerun moves aside), START_FILES (what a fresh start moves aside when
# there is no checkpoint to keep) and RESUMABLE (checkpoints to resume from, newest first) are
# spelled with the rest of the layout in ptlab/run/directory.py.


@dataclass
class Decision:
    """What this launch does with its run dir: skip, resume (from `checkpoint`) or start."""

    action: str
    checkpoint: Optional[Path] = None
    note: Optional[str] = None  # one line for the console, e.g. an unreadable checkpoint moved aside


def check_run_dir(
    run_dir: Union[Path, RunDir], if_exists: str, fingerprint: Dict[str, Any], config: Dict[str, Any]
) -> Decision:
    """Decide what to do with a run dir that may hold an earlier run; never lose what it holds.

    "skip": a completed run of the same config and data, left as it is; "resume": continue an
    unfinished one from its newest readable checkpoint; "start". With if_exists=resume (the
    default) re-launching a sweep skips finished runs and continues interrupted ones;
    if_exists=refuse makes either an error; if_exists=rerun starts over. An earlier run of another
    config or data (`fingerprint`, ptlab/run/fingerprint.py) is refused unless rerun. Whatever a new
    attempt replaces moves to attempts/<n>/ first.
    """
    from ptlab.run.fingerprint import mismatch

    run_dir = RunDir.of(run_dir)
    if if_exists == "rerun":
        _archive(run_dir, RUN_FILES)
        return Decision("start")
    try:
        previous = read_results(run_dir)
    except RunDirError:
        previous = {"status": "unreadable"}  # archived below like any unfinished record
    left = [path for path in run_dir.resumable if path.exists()]
    last = left[0] if left else None
    done = previous is not None and previous.get("status") == "completed"
    if done or last is not None:
        what = "a completed run" if done else f"an unfinished run with checkpoint {last}"
        differs = mismatch(previous, fingerprint, _config_of(run_dir), config)
        if differs:
            raise RunDirError(
                f"run directory {run_dir} holds {what} made with {differs}, so it is not this run. "
                f"Pass if_exists=rerun to run it again (the earlier run moves to attempts/<n>/), or "
                f"choose another run (name=...)."
            )
    if done:
        if if_exists == "refuse":
            raise RunDirError(
                f"run directory {run_dir} already holds a completed run; refusing to overwrite it. "
                f"Pass if_exists=resume to leave it as it is, if_exists=rerun to run it again "
                f"(the earlier attempt moves to attempts/<n>/), or choose another run."
            )
        return Decision("skip")
    if last is not None:
        if if_exists == "refuse":
            raise RunDirError(
                f"run directory {run_dir} holds an unfinished run with checkpoint {last}; refusing "
                f"to start over. Pass if_exists=resume to continue it, or if_exists=rerun to start over."
            )
        return _resume(run_dir, left)
    _archive(run_dir, START_FILES)
    return Decision("start")


def _resume(run_dir: RunDir, left: List[Path]) -> Decision:
    """Resume from the newest readable checkpoint; unreadable ones move to attempts/<n>/."""
    # The attempt keeps its own copy of the curve; the run dir's metrics.csv goes on (ptlab/run/metrics_csv.py).
    attempt = _archive(run_dir, [RESULTS, METRICS_CSV], keep=[METRICS_CSV])
    notes = []
    for path in left:
        problem = unreadable(path)
        if problem is None:
            _check_weights_only(path)
            note = "; ".join([*notes, f"resuming from {run_dir.rel(path)}"]) if notes else None
            return Decision("resume", path, note)
        attempt = attempt or _new_attempt(run_dir)
        os.replace(path, attempt / path.name)
        notes.append(f"{run_dir.rel(path)} is unreadable ({problem}); moved to {run_dir.rel(attempt / path.name)}")
    _move(run_dir, [name for name in START_FILES if name != RESULTS], attempt)  # the start is fresh
    return Decision("start", note="; ".join([*notes, "no readable checkpoint is left: starting over"]))


def unreadable(checkpoint: Path) -> Optional[str]:
    """Why a checkpoint cannot be resumed from (truncated, 0 bytes, corrupted), or None.

    A torch checkpoint is a zip archive: its central directory and CRCs catch a file cut short
    by a crash or a full disk without unpickling anything.
    """
    try:
        with zipfile.ZipFile(checkpoint) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as err:
        return str(err) or type(err).__name__
    return f"{bad} fails its CRC check" if bad else None


def _check_weights_only(checkpoint: Path) -> None:
    """A checkpoint that a weights-only load refuses holds arbitrary pickled objects: never load it,
    and never pass on torch's advice to retry with weights_only=False."""
    import pickle

    import torch

    try:
        torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as err:
        found = [line for line in str(err).splitlines() if "WeightsUnpickler error:" in line]
        reason = (
            found[0].split("error:", 1)[1].split(". Please")[0].strip()
            if found
            else "it holds objects other than tensors and plain values"
        )
        raise RunDirError(
            f"checkpoint {checkpoint} is refused by a weights-only load ({reason}); ptlab never "
            f"unpickles arbitrary objects. Move it out of the run directory to start over, or pass "
            f"if_exists=rerun (it is kept under attempts/<n>/)."
        ) from None


def _config_of(run_dir: RunDir) -> Optional[Dict[str, Any]]:
    from omegaconf import OmegaConf

    path = run_dir.config
    try:
        return OmegaConf.to_container(OmegaConf.load(path)) if path.exists() else None
    except Exception:  # noqa: BLE001 - a damaged config.yaml only loses the detail of a message
        return None


def _new_attempt(run_dir: RunDir) -> Path:
    target = run_dir.attempt(max(run_dir.attempt_numbers(), default=0) + 1)
    target.mkdir(parents=True)
    return target


def _archive(run_dir: RunDir, names, keep=()) -> Optional[Path]:
    """Move an earlier attempt's files (names in the run dir) to attempts/<n>/ (copy those in
    `keep`), beside the new one; nothing when it left neither a record nor checkpoints."""
    present = [n for n in names if (run_dir.root / n).exists()]
    if RESULTS not in present and CHECKPOINTS not in present:
        return None
    target = _new_attempt(run_dir)
    _move(run_dir, [n for n in present if n not in keep], target)
    for name in keep:
        if (run_dir.root / name).exists():
            shutil.copy2(run_dir.root / name, target / name)
    return target


def _move(run_dir: RunDir, names, target: Path) -> None:
    for name in names:
        if (run_dir.root / name).exists():
            os.replace(run_dir.root / name, target / name)
