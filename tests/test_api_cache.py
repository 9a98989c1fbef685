"""The API response cache holds usable completions only (issue 22, item 5), against the real HTTP
server of tests/api_server.py: a 200 whose JSON is not a completion is an error that names the
server and caches nothing, so the run after the server is fixed asks again; an unusable entry an
older ptlab cached is asked again, saying so; `model.api.cache=refresh|off` bypasses the cache; a
cache entry that cannot be written (a foreign file, a full or read-only real tmpfs) names its file,
paths.cache_dir/PTLAB_CACHE_DIR and model.api.cache=off, and leaves no temp file.
"""
# ruff: noqa: F811 - the tests take test_api's fixtures, imported here, as arguments

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from cli import PROCESS_TIMEOUT, ptlab_cmd, ptlab_env, run_dirs
from ptlab.run.cache_files import CacheError
from ptlab.errors import ApiError
from test_api import BODY, api, cli, client, served, server  # noqa: F401 - fixtures and helpers shared
from mounts import fill, tmpfs
from test_bad_input import error_line, written

JUNK = {"object": "error", "message": "model is loading"}  # what api_server's "junk" fault answers
SCORED = ("task=sst2", "data.eval_limit=2", "data.test_limit=2", "trainer=cpu")


def client_in(server, cache: Path, mode: str = "use"):
    """test_api's client (its `cache` argument is the folder), with model.api.cache=`mode`."""
    made = client(server, cache, timeout_s=30)
    made.cfg = replace(made.cfg, cache=mode)
    return made


def entries(cache: Path) -> list:
    return sorted((cache / "api").glob("*.json"))


def test_an_unknown_cache_mode_is_a_config_error(tmp_path):
    env = ptlab_env(tmp_path / "runs", tmp_path / "cache")
    proc = subprocess.run(
        ptlab_cmd("model=api", "model.api.cache=sometimes"),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
    )
    line = error_line(proc)
    assert "model.api.cache" in line and "sometimes" in line and "use, refresh, off" in line
    assert written(tmp_path / "runs") == []


@pytest.mark.slow
def test_an_answer_that_is_not_a_completion_is_never_cached(server, tmp_path):
    log_dir, cache = tmp_path / "runs", tmp_path / "cache"
    server.always = "junk"
    broken = cli(*api(server, *SCORED), log_dir=log_dir, cache=cache)
    line = error_line(broken)
    assert f"{server.base_url}/completions" in line and "not a usable completion" in line, line
    assert "nothing was cached" in line and "cache" not in line.replace("nothing was cached", "")
    assert entries(cache) == [] and len(server.requests) >= 1
    server.always, asked = None, len(server.requests)  # the server is fixed: the next run asks again
    fixed = cli(*api(server, *SCORED), log_dir=log_dir, cache=cache)
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    assert len(server.requests) > asked and len(entries(cache)) == len(server.requests) - asked
    [run_dir] = run_dirs(log_dir)
    assert json.loads((run_dir / "results.json").read_text())["status"] == "completed"


@pytest.mark.slow
def test_an_unusable_entry_an_older_ptlab_cached_is_asked_again(server, tmp_path):
    log_dir, cache = tmp_path / "runs", tmp_path / "cache"
    first = cli(*api(server, *SCORED), log_dir=log_dir, cache=cache)
    assert first.returncode == 0, first.stderr[-3000:]
    good = {path: path.read_text() for path in entries(cache)}
    junk, torn = list(good)[:2]
    junk.write_text(json.dumps({**json.loads(good[junk]), "response": JUNK}))  # as ptlab cached it before
    torn.write_text(good[torn][:40])  # a half-written entry
    server.reset()
    again = cli(*api(server, *SCORED), "if_exists=rerun", log_dir=log_dir, cache=cache)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(server.requests) == 2  # those two only, each asked once
    notes = [line for line in again.stderr.splitlines() if "is not usable" in line]
    assert notes and any(str(junk) in n or str(torn) in n for n in notes), again.stderr[-3000:]
    assert "asking the server again" in notes[0] and "model.api.cache=refresh" in notes[0]
    assert {path: path.read_text() for path in entries(cache)} == good  # both rewritten with the server's answer


def test_refresh_asks_again_and_replaces_the_entry(server, tmp_path):
    [answer] = client_in(server, tmp_path).complete([BODY])
    [entry] = entries(tmp_path)
    entry.write_text(json.dumps({**json.loads(entry.read_text()), "response": {**answer, "stale": True}}))
    refreshing = client_in(server, tmp_path, "refresh")
    assert refreshing.complete([BODY]) == [answer] and len(server.requests) == 2
    assert (refreshing.requests_sent, refreshing.cache_hits) == (1, 0)
    assert json.loads(entry.read_text())["response"] == answer


def test_off_neither_reads_nor_writes_the_cache(server, tmp_path):
    uncached = client_in(server, tmp_path, "off")
    [answer] = uncached.complete([BODY])
    assert uncached.complete([BODY]) == [answer] and len(server.requests) == 2
    assert not (tmp_path / "api").exists()


def test_a_cache_entry_that_cannot_be_written_names_the_file_and_the_option(server, tmp_path):
    (tmp_path / "api").write_text("a file where the cache's folder goes")
    failing = client_in(server, tmp_path)
    with pytest.raises(CacheError) as err:
        failing.complete([BODY])
    message = str(err.value)
    assert str(failing.cache_path({"model": "tiny-llama", **BODY})) in message
    assert "model.api.cache=off" in message and "PTLAB_CACHE_DIR" in message and "\n" not in message


@pytest.mark.parametrize(
    "options,reason", [("size=1m", "No space left on device"), ("size=1m,ro", "Read-only file system")]
)
def test_a_full_or_read_only_cache_disk_names_the_entry_and_leaves_no_temp_file(server, tmp_path, options, reason):
    with tmpfs(tmp_path / "disk", options) as disk:
        if "ro" not in options.split(","):
            fill(disk)
        before = set(disk.rglob("*"))
        failing = client_in(server, disk)
        with pytest.raises(CacheError) as err:
            failing.complete([BODY])
        message = str(err.value)
        entry = failing.cache_path({"model": "tiny-llama", **BODY})
        assert message.startswith(f"could not write API cache entry {entry}: {reason} "), message
        assert "paths.cache_dir or PTLAB_CACHE_DIR" in message and "model.api.cache=off" in message, message
        assert [p for p in set(disk.rglob("*")) - before if not p.is_dir()] == [], list(disk.rglob("*"))


def test_a_junk_answer_is_not_read_as_a_completion(server, tmp_path):
    server.faults.append("junk")
    with pytest.raises(ApiError) as err:
        client_in(server, tmp_path).complete([BODY])
    assert "not a usable completion" in str(err.value) and "keys message, object" in str(err.value)
    assert "model is loading" not in str(err.value) and not (tmp_path / "api").exists()
