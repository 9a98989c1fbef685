"""The suite's data dir: ../shared/data as it is (each file a symlink to it) but SST-2's training
file, cut to its first rows. Every ptlab run reads a task's whole training file before it draws
`data.k` examples and carves the selection split (content-disjoint from the pool, so it needs every
row), and SST-2's 67,349 rows took about 2 s of each of the suite's hundreds of runs on sst2. Its
first 3,000 rows hold 2,473 whole sentences, enough for the 872 the shipped carve takes. The tests
of the real files themselves (row counts, the carve on all of SST-2, honest splits) read the full
data dir (`full_data_dir`)."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

SST2_TRAIN_ROWS = 3000


def small_data_dir(full: Path) -> Path:
    """The cut data dir for `full`, made once per machine and data (a directory named by a digest of
    the source; workers that race make one each and keep the first renamed into place)."""
    source = full / "sst2" / "train.tsv"
    if not source.is_file():
        return full  # no SST-2 here: the tests that need it skip, saying so
    stat = source.stat()
    key = hashlib.sha256(f"{full.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{SST2_TRAIN_ROWS}".encode()).hexdigest()
    target = Path(tempfile.gettempdir()) / f"ptlab-test-data-{key[:16]}"
    if target.is_dir():
        return target
    building = Path(tempfile.mkdtemp(prefix=f"{target.name}.", dir=target.parent))
    for entry in full.iterdir():
        if entry.is_dir():
            (building / entry.name).mkdir()
            for item in entry.iterdir():
                (building / entry.name / item.name).symlink_to(item.resolve())
        else:
            (building / entry.name).symlink_to(entry.resolve())
    cut = building / "sst2" / "train.tsv"
    cut.unlink()
    with open(source, encoding="utf-8", newline="") as rows:
        cut.write_text("".join(next(rows) for _ in range(SST2_TRAIN_ROWS + 1)), encoding="utf-8")  # + header
    try:
        os.rename(building, target)
    except OSError:  # another worker got there first: theirs is the same
        shutil.rmtree(building)
    return target
