"""Writing into ptlab's caches under `paths.cache_dir` (carves, tokenized data, API answers).

A cache write that fails (a full disk, a read-only or foreign directory) is one error naming the
entry that could not be written and how to point the cache elsewhere, never a bare OSError with no
path; and it leaves no temp file: each entry goes through record.atomic_write (temp file beside it,
renamed into place, removed if anything fails) or, for a tokenized dir, its own temp dir.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Iterator

from ptlab.errors import PtlabError
from ptlab.run.record import atomic_write


class CacheError(PtlabError):
    """A cache entry cannot be written (a full disk, a read-only dir)."""


@contextlib.contextmanager
def writing(what: str, path: Path, also: str = "") -> Iterator[None]:
    """An OSError while writing the `what` (e.g. "carve cache entry") at `path` as one CacheError
    naming it; `also` adds another way out (the API cache can be turned off)."""
    try:
        yield
    except OSError as err:
        reason = err.strerror or next(iter(str(err).splitlines()), type(err).__name__)
        raise CacheError(
            f"could not write {what} {path}: {reason} (free space there, or set paths.cache_dir or "
            f"PTLAB_CACHE_DIR to a writable directory with room{also})"
        ) from None


def write_json_entry(what: str, path: Path, payload: Any, also: str = "") -> None:
    """`payload` as the JSON file `path`, atomically; a failure is `writing`'s CacheError."""
    text = json.dumps(payload)
    with writing(what, path, also):
        atomic_write(path, lambda tmp: Path(tmp).write_text(text))
