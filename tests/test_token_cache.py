"""The tokenization cache serves only what it proves to hold, attacked through the real CLI: a
truncated `.arrow`, an emptied `state.json` and another split's rows under this split's name are
each rebuilt with one console line and score as a clean run does; a full cache disk (a real small
tmpfs) is one error naming the carve or tokenization cache entry that could not be written, and
leaves no temp file or dir; a `kill -9`'d writer's temp dir is removed by the next run, a live
writer's is not.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli import FULL_DATA, REAL_DATA, ptlab_ok, record, run_dirs
from mounts import fill, tmpfs
from test_bad_input import error_line, ptlab

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (REAL_DATA / "sst2").is_dir(), reason=f"real datasets not found at {REAL_DATA}"),
]
# Train 16, validation 16, test 8 rows: validation's rows scored as test's would change the score.
ARGS = ["model=tiny-bert", "method=full_finetune", "debug=smoke"]
NOTE = "ptlab: tokenization cache entry "


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """A clean run's cache (train, validation and test entries) and its record."""
    root = tmp_path_factory.mktemp("clean")
    ptlab_ok(*ARGS, log_dir=root / "runs", cache=root / "cache", data_dir=FULL_DATA)
    (run_dir,) = run_dirs(root / "runs")
    return root / "cache", record(run_dir)


@pytest.fixture
def cache(clean, tmp_path) -> Path:
    """A copy of the clean run's cache, for one test to damage."""
    return Path(shutil.copytree(clean[0], tmp_path / "cache", symlinks=True))


def entry(cache: Path, split: str) -> Path:
    (found,) = (cache / "tokenized").glob(f"sst2-{split}-*")
    return found


def rerun(cache: Path, tmp_path: Path):
    """The clean run's command on `cache`: its notes about the cache, and its record."""
    tmp_path.mkdir(exist_ok=True)
    proc = ptlab_ok(*ARGS, log_dir=tmp_path / "runs", cache=cache, data_dir=FULL_DATA)
    (run_dir,) = run_dirs(tmp_path / "runs")
    return [line for line in proc.stderr.splitlines() if line.startswith(NOTE)], record(run_dir)


def test_another_splits_rows_under_this_splits_name_are_rebuilt_not_scored(clean, cache, tmp_path):
    test = entry(cache, "test")
    shutil.rmtree(test)
    shutil.copytree(entry(cache, "validation"), test)  # validation's rows, manifest and all

    notes, after = rerun(cache, tmp_path)
    assert notes == [
        f"{NOTE}{test} holds other rows than asked for (split: 'validation' here, 'test' asked; "
        f"rows: 16 here, 8 asked; examples_sha256 differs (+3 more)); rebuilding it"
    ]
    assert after["metrics"] == clean[1]["metrics"]  # the test score is test's, not validation's
    assert after["tokenization_cache_hit"] == {"train": True, "validation": True, "test": False}
    assert json.loads((test / "manifest.json").read_text())["identity"]["split"] == "test"


def test_a_truncated_arrow_file_and_an_emptied_state_json_are_rebuilt(clean, cache, tmp_path):
    arrow = next(entry(cache, "train").glob("*.arrow"))
    size = arrow.stat().st_size
    os.truncate(arrow, size // 2)
    (entry(cache, "validation") / "state.json").write_text("")

    notes, after = rerun(cache, tmp_path)
    assert notes == [
        f"{NOTE}{entry(cache, 'train')} is damaged: {arrow.name} is {size // 2} bytes, not {size}; rebuilding it",
        f"{NOTE}{entry(cache, 'validation')} is damaged: state.json is 0 bytes, not "
        f"{(entry(clean[0], 'validation') / 'state.json').stat().st_size}; rebuilding it",
    ]
    assert after["metrics"] == clean[1]["metrics"]
    assert after["tokenization_cache_hit"] == {"train": False, "validation": False, "test": True}
    assert rerun(cache, tmp_path / "again")[0] == []  # rebuilt for good: the next run says nothing


# The cache a run must write (key) when the clean run's other one (value) is on the full disk
# already: each case names that cache's entry, whichever cache a run happens to write first.
MUST_WRITE = {"carve": "tokenized", "tokenized": "carve"}


@pytest.mark.parametrize("must_write", sorted(MUST_WRITE))
def test_a_full_cache_disk_names_what_could_not_be_written_and_leaves_nothing_behind(clean, tmp_path, must_write):
    with tmpfs(tmp_path / "disk", "size=1m") as disk:
        shutil.copytree(clean[0] / MUST_WRITE[must_write], disk / MUST_WRITE[must_write])
        before = set(disk.rglob("*"))
        fill(disk, leave=8192)  # two pages: too few for an entry
        # all of SST-2's training file (as every run here): its carve entry is what outgrows the disk
        failed = ptlab(*ARGS, log_dir=tmp_path / "runs", cache=disk, data_dir=FULL_DATA)
        line = error_line(failed)
        named = re.search(
            rf"could not write [\w ]*cache entry ({re.escape(str(disk))}/\S+): No space left on device", line
        )
        assert named and "paths.cache_dir or PTLAB_CACHE_DIR" in line, line
        entry = Path(named[1])
        assert entry.parent == disk / must_write and not entry.exists(), line  # nothing half-written under its name
        left = set(disk.rglob("*")) - before - {disk / "filler"}
        assert all(p.is_dir() or (p.name.endswith(".lock") and p.stat().st_size == 0) for p in left), left


def writer(tokenized: Path, split: str) -> subprocess.Popen:
    """A process writing a cache entry (ptlab's own code) that is still encoding when the test acts."""
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from ptlab.data.token_cache import TokenCache\n"
        "def build():\n"
        "    print('encoding', flush=True)\n"
        "    time.sleep(600)\n"
        "TokenCache(Path(sys.argv[1])).get({'task': 'sst2', 'split': sys.argv[2]}, build)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(tokenized), split], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "encoding\n"
    return proc


def test_a_killed_writers_temp_dir_is_removed_by_the_next_run_and_a_live_ones_is_kept(clean, cache, tmp_path):
    tokenized = cache / "tokenized"
    killed = writer(tokenized, "killed")
    live = writer(tokenized, "live")
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        (dead_dir,) = tokenized.glob(".tmp-sst2-killed-*")
        (live_dir,) = tokenized.glob(".tmp-sst2-live-*")
        (dead_dir / "data-00000-of-00001.arrow").write_bytes(b"\0" * 4096)  # as if killed mid-save
        old, recent = tokenized / ".tmp-k3j2x9", tokenized / ".tmp-p8q1z4"  # an older ptlab's, no lock file
        for path in (old, recent):
            path.mkdir()
        two_days_ago = time.time() - 2 * 24 * 3600
        os.utime(old, (two_days_ago, two_days_ago))

        notes, after = rerun(cache, tmp_path)
        assert notes == [] and after["tokenization_cache_hit"] == {"train": True, "validation": True, "test": True}
        assert sorted(tokenized.glob(".tmp-*")) == sorted([live_dir, recent])
    finally:
        for proc in (killed, live):
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def test_a_full_cache_disk_names_the_gguf_conversion_entry_and_leaves_no_temp_dir(tmp_path):
    """The first cache tiny-llama writes is the conversion of SmolLM2's GGUF tokenizer (e2e_nlg
    carves nothing): it names its entry too, and leaves no half-converted dir."""
    with tmpfs(tmp_path / "disk", "size=1m") as disk:
        fill(disk, leave=8192)  # room for the GGUF file's hash, not for its tokenizer
        args = ["model=tiny-llama", "method=zero_shot", "task=e2e_nlg", "data.eval_limit=2"]
        line = error_line(ptlab(*args, log_dir=tmp_path / "runs", cache=disk, data_dir=REAL_DATA))
        named = re.search(
            rf"could not write GGUF conversion cache entry ({re.escape(str(disk))}/gguf/\S+): No space", line
        )
        assert named and "paths.cache_dir or PTLAB_CACHE_DIR" in line, line
        assert not Path(named[1]).exists()
        left = {p for p in (disk / "gguf").rglob("*") if p.is_file()}
        assert {p.parent.name for p in left} == {"sha256"}, left  # only the file's hash, whole
