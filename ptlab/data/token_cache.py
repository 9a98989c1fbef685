"""The tokenization cache: an entry is served only once it proves to hold what the run asks for.

An entry is a `datasets` dir `<paths.cache_dir>/tokenized/<task>-<split>-<digest>`, named by the
digest of its identity (split, row count, the examples' and source files' sha256, the encoding,
tokenizer and template versions), plus `manifest.json`, written last: that identity and each
file's size and sha256. A read checks the manifest against the identity the run expects and the
files against the manifest, so a truncated `.arrow`, an emptied `state.json` or another split's
rows copied under this name is rebuilt, with one console line naming the entry and why, and is
never scored as this split nor left to fail with a bare `ArrowInvalid`.

Writing: an entry is built in a temp dir beside it and renamed into place when complete (atomic);
a failed write removes its temp dir, and any OSError (a full disk) is one error naming the entry.
Writers of one entry take turns on an `fcntl.flock` of `.<entry>.lock` (DDP ranks, parallel
sweep jobs): the first builds, the others then find it built; where the filesystem has no locks,
each builds its own and the first rename wins.

Leftovers of a `kill -9`: temp dirs are named `.tmp-<host>-<pid>-<random>`, the pid being in the
name from the moment the dir exists. The first cache read of a process removes the temp dirs of
this host whose pid is gone; a live pid's (a concurrent writer, or a reused pid) and another
host's (its pid cannot be checked from here) stay until untouched for STALE_AFTER_S.
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
import socket
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

import datasets

from ptlab.errors import PtlabError
from ptlab.fingerprint import file_identity, flatten
from ptlab.record import write_json

MANIFEST = "manifest.json"
TEMP = ".tmp-"
STALE_AFTER_S = 24 * 3600  # far beyond any one write: a temp dir only exists while an entry is saved


class CacheError(PtlabError):
    """The tokenization cache cannot be written (a full disk, a read-only dir)."""


class TokenCache:
    def __init__(self, root: Path):
        self.root = root
        self._swept = False

    def get(self, identity: Dict[str, Any], build: Callable[[], datasets.Dataset]) -> Tuple[datasets.Dataset, bool]:
        """The entry holding `identity` and whether it was on disk already; built by `build()`
        and written first where it is missing, or damaged, or holds something else."""
        identity = json.loads(json.dumps(identity, default=str))  # as its manifest reads back: lists, str keys
        path = self.root / f"{identity['task']}-{identity['split']}-{_digest(identity)[:20]}"
        if not self._swept:
            self._swept = True
            _sweep(self.root)
        if path.exists() and _problem(path, identity) is None:
            return datasets.load_from_disk(str(path)), True
        with self._writing(path):
            problem = _problem(path, identity) if path.exists() else None
            if path.exists() and problem is None:  # written by another process meanwhile
                return datasets.load_from_disk(str(path)), True
            if problem:
                print(f"ptlab: tokenization cache entry {path} {problem}; rebuilding it", file=sys.stderr)
            self._write(path, identity, build())
        return datasets.load_from_disk(str(path)), False

    @contextlib.contextmanager
    def _writing(self, path: Path) -> Iterator[None]:
        """This entry's lock held (where the filesystem has locks); an OSError as a CacheError."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / f".{path.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise _unwritable(path, err) from None
        try:
            with contextlib.suppress(OSError):  # a filesystem without locks: the first rename wins
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _write(self, path: Path, identity: Dict[str, Any], dataset: datasets.Dataset) -> None:
        tmp = temp_path(self.root)
        try:
            tmp.mkdir()
            dataset.save_to_disk(str(tmp))
            files = {p.name: file_identity(p) for p in sorted(tmp.iterdir())}
            write_json(tmp / MANIFEST, {"identity": identity, "files": files})  # last: the entry is complete
            if path.exists():  # the damaged entry: aside under a temp name (atomic), then gone
                aside = tmp.with_name(f"{tmp.name}-old")
                os.rename(path, aside)
                shutil.rmtree(aside, ignore_errors=True)
            try:
                os.rename(tmp, path)
            except OSError as err:  # without locks, another process's rename came first: theirs serves
                if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                shutil.rmtree(tmp)
        except BaseException as err:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(err, OSError):
                raise _unwritable(path, err) from None
            raise


def temp_path(root: Path) -> Path:
    """A new temp dir's path in `root`, naming its owner (host, pid) from the moment it exists."""
    return root / f"{TEMP}{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


def _problem(path: Path, identity: Dict[str, Any]) -> Optional[str]:
    """Why the entry at `path` must not be served for `identity`, in words; None if it may."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        held, files = manifest["identity"], dict(manifest["files"])
    except FileNotFoundError:
        return f"has no {MANIFEST} (an unfinished entry, or one from an older ptlab)"
    except (OSError, ValueError, TypeError, KeyError) as err:  # JSONDecodeError and UnicodeDecodeError too
        return f"has an unreadable {MANIFEST} ({type(err).__name__}: {err})"
    if held != identity:
        return f"holds other rows than asked for ({_differences(held, identity)})"
    if not files:
        return f"lists no files in its {MANIFEST}"
    for name, recorded in files.items():
        found = file_identity(path / name)
        if found != recorded:
            state = "is missing" if found.get("missing") else f"is {found['bytes']} bytes, not {recorded.get('bytes')}"
            if found.get("bytes") == recorded.get("bytes"):
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
    host = socket.gethostname()
    for tmp in root.glob(f"{TEMP}*"):
        with contextlib.suppress(OSError):  # gone meanwhile: another process swept it
            if _dead(host, tmp.name) or time.time() - tmp.stat().st_mtime > STALE_AFTER_S:
                shutil.rmtree(tmp, ignore_errors=True)


def _dead(host: str, name: str) -> bool:
    """Whether the temp dir `name` was made by a process of this host that has ended."""
    prefix = f"{TEMP}{host}-"
    pid = name[len(prefix) :].split("-")[0] if name.startswith(prefix) else ""
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _unwritable(path: Path, err: OSError) -> CacheError:
    reason = err.strerror or next(iter(str(err).splitlines()), type(err).__name__)
    return CacheError(
        f"could not write tokenization cache entry {path}: {reason} (free space there, or set "
        f"paths.cache_dir or PTLAB_CACHE_DIR to a writable directory with room)"
    )


def _canonical(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, default=str)


def _digest(payload: Any) -> str:
    return hashlib.sha256(_canonical(payload).encode()).hexdigest()
