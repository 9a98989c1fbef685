"""The tokenization cache: an entry is served only once it proves to hold what the run asks for.

An entry is a `datasets` dir `<paths.cache_dir>/tokenized/<task>-<split>-<digest>`, named by the
digest of its identity (split, row count, the examples' and source files' sha256, the encoding,
tokenizer and template versions), plus `manifest.json`, written last: that identity and each
file's size and sha256. A read checks the manifest against the identity the run expects and the
files against the manifest, so a truncated `.arrow`, an emptied `state.json` or another split's
rows copied under this name is rebuilt, with one console line naming the entry and why, and is
never scored as this split nor left to fail with a bare `ArrowInvalid`.

Writing: an entry's writer holds an `fcntl.flock` on `.<entry>.lock` (kept, empty, beside it)
from before it makes its temp dir `.tmp-<entry>-<random>` until that dir is renamed into place
(atomic) or removed: writers of one entry (DDP ranks, parallel sweep jobs) take turns, and the
later ones find it built. A failed write removes its temp dir; an OSError writing (a full disk) is
one error naming the entry. Where the filesystem has no locks, each writer builds its own and the
first rename wins.

Leftovers of a `kill -9` (the kernel drops the dead writer's lock): the first cache read of a
process removes every temp dir whose entry lock it can take at once, since a live writer holds
it for as long as its temp dir exists. A temp dir it cannot judge that way (no lock file: an
older ptlab's; a filesystem without locks) is removed once untouched for STALE_AFTER_S.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

import datasets

from ptlab.run.cache_files import writing
from ptlab.run.fingerprint import file_identity, flatten
from ptlab.run.record import write_json
from ptlab.run.directory import dir_name

MANIFEST = "manifest.json"
TEMP = ".tmp-"
ENTRY = "tokenization cache entry"  # in errors: could not write <ENTRY> <path>
STALE_AFTER_S = 24 * 3600  # for temp dirs no lock can vouch for: far beyond any one write


class TokenCache:
    """`<paths.cache_dir>/tokenized`, whose entries are checked before they are served."""

    def __init__(self, root: Path):
        self.root = root
        self._swept = False

    def get(self, identity: Dict[str, Any], build: Callable[[], datasets.Dataset]) -> Tuple[datasets.Dataset, bool]:
        """The entry holding `identity` and whether it was on disk already; built by `build()`
        and written first where it is missing, or damaged, or holds something else."""
        identity = json.loads(json.dumps(identity, default=str))  # as its manifest reads back: lists, str keys
        path = self.root / dir_name(f"{identity['task']}-{identity['split']}-{_digest(identity)[:20]}")  # stays in root
        if not self._swept:
            self._swept = True
            _sweep(self.root)
        if path.exists() and _problem(path, identity) is None:
            return datasets.load_from_disk(str(path)), True
        with _locked(path):
            problem = _problem(path, identity) if path.exists() else None
            if path.exists() and problem is None:  # written by another process meanwhile
                return datasets.load_from_disk(str(path)), True
            if problem:
                print(f"ptlab: tokenization cache entry {path} {problem}; rebuilding it", file=sys.stderr)
            _write(path, identity, build)
        return datasets.load_from_disk(str(path)), False


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """The entry's lock held (where the filesystem has locks)."""
    with writing(ENTRY, path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(_lock_of(path), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        with contextlib.suppress(OSError):  # a filesystem without locks: the first rename wins
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _write(path: Path, identity: Dict[str, Any], build: Callable[[], datasets.Dataset]) -> None:
    """Build the entry in a temp dir (made first: a writer killed while encoding leaves it to
    _sweep), then rename it into place, the manifest written last; the temp dir goes if anything fails."""
    tmp = _temp_path(path)
    try:
        with writing(ENTRY, path):
            tmp.mkdir()
        rows = build()
        with writing(ENTRY, path):
            rows.save_to_disk(str(tmp))
            files = {p.name: file_identity(p) for p in sorted(tmp.iterdir())}
            write_json(tmp / MANIFEST, {"identity": identity, "files": files})  # last: the entry is complete
            if path.exists():  # the damaged entry: aside under a temp name (atomic), then gone
                aside = _temp_path(path)
                os.rename(path, aside)
                shutil.rmtree(aside, ignore_errors=True)
            try:
                os.rename(tmp, path)
            except OSError as err:  # without locks, another process's rename came first: theirs serves
                if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already once renamed into place


def _temp_path(entry: Path) -> Path:
    """A new temp dir's path for `entry`, beside it; its name says whose lock guards it."""
    return entry.with_name(f"{TEMP}{entry.name}-{secrets.token_hex(4)}")


def _lock_of(entry: Path) -> Path:
    return entry.with_name(f".{entry.name}.lock")


def _problem(path: Path, identity: Dict[str, Any]) -> Optional[str]:
    """Why the entry at `path` must not be served for `identity`, in words; None if it may."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        held, files = manifest["identity"], {name: dict(file) for name, file in manifest["files"].items()}
    except FileNotFoundError:
        return f"has no {MANIFEST} (an unfinished entry, or one from an older ptlab)"
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as err:  # a decode error is a ValueError
        return f"has an unreadable {MANIFEST} ({type(err).__name__}: {err})"
    if held != identity:
        return f"holds other rows than asked for ({_differences(held, identity)})"
    if not files:
        return f"lists no files in its {MANIFEST}"
    for name, recorded in files.items():
        found = file_identity(path / name)
        if found != recorded:
            if found.get("missing"):
                state = "is missing"
            elif found["bytes"] != recorded.get("bytes"):
                state = f"is {found['bytes']} bytes, not {recorded.get('bytes')}"
            else:
                state = "has other contents than its manifest records (sha256 differs)"
            return f"is damaged: {name} {state}"
    return None


def _differences(held: Any, wanted: Dict[str, Any], limit: int = 3) -> str:
    """`split: 'validation' here, 'test' asked` for the first few fields that differ (a digest
    just `differs`), in the order the run's identity lists them: split and rows first."""
    here, asked = flatten(held if isinstance(held, dict) else {"identity": held}), flatten(wanted)
    keys = [k for k in asked if here.get(k, "<unset>") != asked[k]] + [k for k in here if k not in asked]
    shown = [_difference(k, here.get(k, "<unset>"), asked.get(k, "<unset>")) for k in keys[:limit]]
    return "; ".join(shown) + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def _difference(key: str, here: Any, asked: Any) -> str:
    digests = all(isinstance(v, str) and len(v) > 32 for v in (here, asked))
    return f"{key} differs" if digests else f"{key}: {here!r} here, {asked!r} asked"


def _sweep(root: Path) -> None:
    """Remove the temp dirs that no live process writes (see the module's docstring)."""
    for tmp in root.glob(f"{TEMP}*"):
        with contextlib.suppress(OSError):  # gone meanwhile: another process swept it
            if _abandoned(tmp):
                shutil.rmtree(tmp, ignore_errors=True)


def _abandoned(tmp: Path) -> bool:
    try:
        fd = os.open(_lock_of(tmp.with_name(tmp.name[len(TEMP) :].rsplit("-", 1)[0])), os.O_RDWR)
    except FileNotFoundError:  # an older ptlab's temp dir
        return time.time() - tmp.stat().st_mtime > STALE_AFTER_S
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True  # its writer is gone: a live one holds the lock while its temp dir exists
    except BlockingIOError:
        return False
    except OSError:  # a filesystem without locks
        return time.time() - tmp.stat().st_mtime > STALE_AFTER_S
    finally:
        os.close(fd)


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
