"""ptlab-report reads only the record versions it knows (issue 22, item 6): a results.json of a newer
(or no) `schema_version` is listed as unreadable with the reason, like a corrupt one, and never
tabulated; when no record is readable, that is one error line.
"""

from __future__ import annotations

import json

import pytest

from ptlab.run.record import SCHEMA_VERSION
from test_report import SEEDS, mean_std, report, table_of, write_run

VERSIONS = {  # what a record's schema_version holds -> the reason the report gives
    "newer": (SCHEMA_VERSION + 1, f"schema_version {SCHEMA_VERSION + 1} is newer than this ptlab reads"),
    "a string": (str(SCHEMA_VERSION), f"schema_version '{SCHEMA_VERSION}' is not a record version"),
    "missing": (None, "not a ptlab run record: no schema_version"),
}


def set_version(results, version) -> None:
    saved = json.loads(results.read_text())
    saved.pop("schema_version")
    results.write_text(json.dumps(saved if version is None else {**saved, "schema_version": version}))


@pytest.mark.slow
@pytest.mark.parametrize("case", list(VERSIONS))
def test_a_record_of_an_unknown_schema_version_is_listed_not_tabulated(tmp_path, case):
    for seed in SEEDS:
        write_run(tmp_path, "gpt2", "sst2", "prompt_tuning", seed)
    known = write_run(tmp_path, "gpt2", "sst2", "zero_shot", 0) / "results.json"
    set_version(known, SCHEMA_VERSION)  # the newest version this ptlab writes is read
    unknown = write_run(tmp_path, "gpt2", "sst2", "prompt_tuning", 2) / "results.json"
    version, reason = VERSIONS[case]
    set_version(unknown, version)
    result = report(str(tmp_path), "--out", str(tmp_path / "out"))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    md = (tmp_path / "out" / "report.md").read_text()
    assert table_of(md)[("gpt2", "sst2 (accuracy)")]["prompt_tuning"] == (
        f"{mean_std('gpt2', 'sst2', 'prompt_tuning', [0, 1])} (n=2)"
    )
    assert table_of(md)[("gpt2", "sst2 (accuracy)")]["zero_shot"].endswith("(n=1)")
    assert "1 unreadable results.json listed below" in md
    [listed] = [line for line in md.splitlines() if line.startswith(f"- {unknown.resolve()}: ")]
    assert reason in listed


def test_only_records_of_a_newer_schema_version_is_one_error_line(tmp_path):
    for seed in SEEDS:
        set_version(write_run(tmp_path, "gpt2", "sst2", "zero_shot", seed) / "results.json", SCHEMA_VERSION + 1)
    result = report(str(tmp_path), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("ptlab-report: error: no readable run record among 3 results.json: ")
    assert f"is newer than this ptlab reads (1 to {SCHEMA_VERSION})" in result.stderr
    assert not (tmp_path / "out").exists()
