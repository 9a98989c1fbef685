"""Real filesystems for the tests that need one: a small tmpfs to fill, a read-only one."""

import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def tmpfs(mount: Path, options: str):
    """A real tmpfs at `mount` (e.g. "size=160m" or "size=1m,ro"), unmounted afterwards; the test
    is skipped, saying why, where mounting needs rights this machine does not give."""
    mount.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(mount: Path, leave: int = 0) -> None:
    """Fill the filesystem at `mount` with a file `filler`, all but `leave` bytes (whole pages)."""
    with (mount / "filler").open("wb", buffering=0) as filler:
        with pytest.raises(OSError):
            while True:
                filler.write(b"\0" * 4096)
        filler.truncate(filler.tell() - leave)
