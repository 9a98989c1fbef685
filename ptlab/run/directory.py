"""The layout of a run directory, spelled in one place.

A run dir is read and written by many hands: the run itself, the resume/rerun decision
(ptlab/run/record.py), the lock and the rank-0 decision file, the console's log file, the CLI's record
of a failed sweep point, the report, the benchmarks. When each of them spelled `out / "checkpoints"
/ "last.ckpt"` on its own, renaming a file meant finding every copy, and a missed one read a path
that no longer existed (a resume that silently starts over, a report that finds no curves). Here
every file and directory of a run has one name; everything else asks a `RunDir` for its paths.

Torch-free and import-light: the report, the CLI and the benchmarks import it without the stack.

Two spellings live outside Python and must agree with this one (tests/test_run_dir_layout.py
checks): conf/callbacks/default.yaml (`dirpath: .../checkpoints`, `filename: best` / `last`) and
conf/logger/csv.yaml (metrics.csv and hparams.yaml written straight into the run dir).
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Tuple, Union

from ptlab.errors import ConfigError

# Names inside a run dir (relative to its root).
RESULTS = "results.json"  # the run's record (ptlab/run/record.py): the contract with every reader
CONFIG = "config.yaml"  # the resolved config of the run's first attempt
METRICS_CSV = "metrics.csv"  # Lightning's CSV logger (conf/logger/csv.yaml)
HPARAMS = "hparams.yaml"  # written by the CSV logger beside metrics.csv
CHECKPOINTS = "checkpoints"
LAST_CKPT = "last.ckpt"  # the latest validation's (or a preemption's) full training state
BEST_CKPT = "best.ckpt"  # the best validation's
ADAPTER = "adapter"  # an exported PEFT adapter (method.export_adapter)
LOG = "ptlab.log"  # library logs and warnings (ptlab/run/console.py); ranks > 0 write ptlab.rank<n>.log
ATTEMPTS = "attempts"  # earlier attempts, moved aside as attempts/<n>/ (n = 1, 2, ...)
LOCK = ".lock"  # held by the process that owns the run dir (ptlab/run/lock.py)
DECISION = ".decision"  # rank 0's decision for the other ranks of a launch (ptlab/run/launch.py)
SPLITS = ("val", "test")  # the splits a run writes predictions for


# --- directory names built from user text (the experiment name, config names, overrides)
# The config keys whose values name a run's directory (conf/hydra/default.yaml, with the overrides).
RUN_DIR_KEYS = ("name", "model.name", "task.name", "method.name", "seed")
MAX_NAME_BYTES = 200  # file systems refuse names over 255 bytes
ESCAPED = "/\\%"  # separators, and the escape character itself


def dir_name(text: str) -> str:
    """`text` as ONE directory name that stays where it is put: separators, control and format
    characters, `%` and a leading dot are escaped as `%XX` (UTF-8 bytes), so `..`, `a/b` or
    `.hidden` can neither leave the parent nor hide, and two different texts never give one name
    (the escape is reversible). Ordinary names (`default`, `method.lr=0.001`) are left as they are."""
    if not text:
        raise ConfigError("an empty name cannot name a directory")
    name = "".join(c if _plain(c) else "".join(f"%{byte:02X}" for byte in c.encode()) for c in text)
    return fitted("%2E" + name[1:] if name.startswith(".") else name)


def _plain(char: str) -> bool:
    """Not a separator, nor `%`, nor a control, format or non-space separator character."""
    return char not in ESCAPED and (char == " " or unicodedata.category(char)[0] not in "CZ")


def fitted(name: str) -> str:
    """`name` within MAX_NAME_BYTES: a longer one keeps its start and ends in a hash of the whole,
    so distinct settings stay distinct and the name stays readable."""
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:12]
    start = name.encode()[: MAX_NAME_BYTES - len(digest) - 3].decode(errors="ignore")
    return f"{start}...{digest}"


def inside(root: Union[Path, str], path: Union[Path, str]) -> str:
    """`root/path` (`path` relative to root, or absolute), checked to stay under `root` once `..`
    and `.` are normalized away: the run dir ptlab names (every part of it went through dir_name
    already) and the one a run is finally given to write in (paths.output_dir)."""
    full = os.path.join(str(root), str(path))
    top = os.path.normpath(os.path.abspath(root))
    normal = os.path.normpath(os.path.abspath(full))
    if normal == top or os.path.commonpath([top, normal]) != top:
        raise ConfigError(
            f"the run directory {full} is not inside paths.log_dir={root}: ptlab writes runs only there "
            f"(set paths.log_dir or PTLAB_LOG_DIR, not paths.output_dir or hydra.run.dir)"
        )
    return full


def predictions_name(split: str) -> str:
    return f"predictions_{split}.jsonl"


# Everything a run writes into its directory, i.e. what a forced rerun moves aside.
RUN_FILES: Tuple[str, ...] = (
    RESULTS,
    CONFIG,
    METRICS_CSV,
    CHECKPOINTS,
    *map(predictions_name, SPLITS),
    ADAPTER,
    LOG,
    HPARAMS,
)
# What a fresh start moves aside when there is no checkpoint to keep.
START_FILES: Tuple[str, ...] = (RESULTS, CONFIG, METRICS_CSV, LOG, HPARAMS)
# Full training states a run can resume from, newest first (inside CHECKPOINTS).
RESUMABLE: Tuple[str, ...] = (LAST_CKPT, BEST_CKPT)


@dataclass(frozen=True)
class RunDir:
    """One run's directory and the path of every file in it. `str()` and `os.fspath()` give the root.

    `RunDir.of(x)` takes a RunDir, a Path or a str, so functions can accept either while callers
    move over from plain paths.
    """

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @classmethod
    def of(cls, where: Union["RunDir", Path, str]) -> "RunDir":
        return where if isinstance(where, RunDir) else cls(Path(where))

    def __str__(self) -> str:
        return str(self.root)

    def __fspath__(self) -> str:
        return os.fspath(self.root)

    # --- files of the run
    @property
    def results(self) -> Path:
        return self.root / RESULTS

    @property
    def config(self) -> Path:
        return self.root / CONFIG

    @property
    def metrics_csv(self) -> Path:
        return self.root / METRICS_CSV

    @property
    def hparams(self) -> Path:
        return self.root / HPARAMS

    @property
    def checkpoints(self) -> Path:
        return self.root / CHECKPOINTS

    @property
    def last_ckpt(self) -> Path:
        return self.checkpoints / LAST_CKPT

    @property
    def best_ckpt(self) -> Path:
        return self.checkpoints / BEST_CKPT

    @property
    def resumable(self) -> Tuple[Path, ...]:
        """The checkpoints a run can resume from, newest first (whether or not they exist)."""
        return tuple(self.checkpoints / name for name in RESUMABLE)

    def predictions(self, split: str) -> Path:
        return self.root / predictions_name(split)

    @property
    def adapter(self) -> Path:
        return self.root / ADAPTER

    @property
    def log(self) -> Path:
        return self.root / LOG

    def log_of_rank(self, rank: int) -> Path:
        """Rank 0 writes ptlab.log; another rank of a data-parallel run, ptlab.rank<n>.log."""
        return self.log if rank == 0 else self.root / f"ptlab.rank{rank}.log"

    # --- what guards the run
    @property
    def lock(self) -> Path:
        return self.root / LOCK

    @property
    def decision(self) -> Path:
        return self.root / DECISION

    # --- earlier attempts
    @property
    def attempts(self) -> Path:
        return self.root / ATTEMPTS

    def attempt(self, n: int) -> Path:
        """Attempt n's archive, attempts/<n>/: the files it replaced, under their own names
        (so `RunDir(run.attempt(n))` reads it like a run dir)."""
        return self.attempts / str(n)

    def attempt_numbers(self) -> List[int]:
        """The numbers of the attempts archived so far, in no particular order."""
        return [int(p.name) for p in self.attempts.glob("*") if p.name.isdigit()]

    @staticmethod
    def is_attempt(path: Union["RunDir", Path, str]) -> bool:
        """Whether `path` is an archived attempt (<run dir>/attempts/<n>), i.e. history, not a run."""
        path = Path(path)
        return path.parent.name == ATTEMPTS and path.name.isdigit()

    # --- relative names, for records and messages
    def rel(self, path: Union[Path, str]) -> str:
        """`path` relative to the root, with forward slashes (e.g. "checkpoints/best.ckpt")."""
        return Path(path).relative_to(self.root).as_posix()

    # --- finding runs
    @classmethod
    def under(cls, top: Union[Path, str]) -> Iterator["RunDir"]:
        """Every run dir under `top` (itself included) that holds a record, archived attempts left out."""
        for root in sorted(record.parent for record in Path(top).rglob(RESULTS)):
            if not cls.is_attempt(root):
                yield cls(root)
