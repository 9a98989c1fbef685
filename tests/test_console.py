"""What a person sees on the console (real `ptlab-train` processes, tiny model): per run one
header, training progress, one line per validation and the results, then the sweep's table;
library logs and warnings go to `<run dir>/ptlab.log` instead, or to the console too with
verbose=true.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cli import REAL_DATA, ptlab_ok

pytestmark = pytest.mark.slow

if not (REAL_DATA / "sst2").is_dir():
    pytest.skip(f"real datasets not found at {REAL_DATA}", allow_module_level=True)

# debug=smoke: 4 steps, a validation every 2; its progress bar is turned back on here.
RUN = ["model=tiny-llama", "method=prompt_tuning", "debug=smoke", "trainer.enable_progress_bar=true"]
HEADER = r"ptlab: tiny-llama x prompt_tuning x sst2 x seed (\d): (\S+)"
PTLAB_LINES = [
    HEADER,
    r"  step \d/4: loss \S+(, \d+ tok/s)?, .*elapsed.*",
    (
        r"  val at step [24]/4: accuracy \S+, accuracy_norm \S+, macro_f1 \S+, accuracy_calibrated \S+, "
        r"macro_f1_calibrated \S+, accuracy_pmi \S+ \(best accuracy so far \S+\)"
    ),
    r"ptlab: warning: the run may have learned nothing: .+",  # a smoke run may well (ptlab/scoring/baselines.py)
    r"ptlab: done in \d+ s: val accuracy \S+ \(best, step \d; final \S+\), test accuracy \S+",
    r"ptlab: results in \S+",
]
NOISE = [
    "GPU available",
    "exists and is not empty",
    "Saving the dataset",
    "Tip",
    "DeprecationWarning",
    "FutureWarning",
    "deprecated",
    "Warning",
]


def runs_of(stdout: str) -> list:
    """(header, the run's lines up to and including its results line) per run, in order."""
    runs, current = [], None
    for line in stdout.splitlines():
        if re.fullmatch(HEADER, line):
            current = (line, [])
            runs.append(current)
        elif current is not None:
            current[1].append(line)
            if line.startswith("ptlab: results in"):
                current = None
    return runs


def check_run(header: str, lines: list) -> None:
    run_dir = Path(re.fullmatch(HEADER, header).group(2))
    assert len([line for line in lines if line.startswith("  step ")]) == 4  # every tenth, at least every step
    validations = [line.split(":")[0] for line in lines if line.startswith("  val")]
    assert validations == ["  val at step 2/4", "  val at step 4/4"]
    assert lines[-2].startswith("ptlab: done in ") and lines[-1] == f"ptlab: results in {run_dir / 'results.json'}"
    log = (run_dir / "ptlab.log").read_text()
    assert log.count("GPU available") == 1 and "Trainer.fit` stopped" in log  # Lightning's lines, once


def test_a_sweep_shows_ptlab_lines_only_and_ends_with_the_table(tmp_path, cli_cache):
    proc = ptlab_ok("-m", *RUN, "seed=0,1", log_dir=tmp_path / "runs", cache=cli_cache)
    shown = f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    runs = runs_of(proc.stdout)
    assert [re.fullmatch(HEADER, header).group(1) for header, _ in runs] == ["0", "1"], shown
    for header, lines in runs:
        check_run(header, lines)
    for noise in NOISE:
        assert noise not in proc.stdout + proc.stderr, shown
    assert proc.stderr == "", shown
    table = proc.stdout.index("| tiny-llama | sst2 (accuracy) |")
    assert table > proc.stdout.rindex("ptlab: results in"), shown  # the sweep ends with the table
    runs_part = proc.stdout[: proc.stdout.index("# ptlab report")]
    for line in runs_part.splitlines():  # Hydra's launcher lines aside, every line is one of ptlab's
        assert "[HYDRA]" in line or any(re.fullmatch(p, line) for p in PTLAB_LINES), f"{line!r}\n{shown}"


def test_verbose_shows_library_lines_once(tmp_path, cli_cache):
    proc = ptlab_ok(*RUN, "verbose=true", log_dir=tmp_path / "runs", cache=cli_cache)
    shown = f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    [(header, lines)] = runs_of(proc.stdout)
    check_run(header, lines)
    assert proc.stderr.count("GPU available") == 1, shown  # one handler, not Hydra's and Lightning's
    assert "GPU available" not in proc.stdout, shown


def test_a_max_steps_that_cuts_the_asked_epochs_short_is_said_once(tmp_path, cli_cache):
    # debug=smoke: k=16, batch 4 (4 steps an epoch) and max_steps=4, so 2 epochs would need 8
    proc = ptlab_ok(*RUN, "trainer.max_epochs=2", log_dir=tmp_path / "runs", cache=cli_cache)
    note = "ptlab: note: trainer.max_steps=4 stops training after 4 of the 8 steps trainer.max_epochs=2 asks for"
    assert proc.stderr.count(note) == 1, proc.stderr
    whole = ptlab_ok(*RUN, "trainer.max_epochs=1", log_dir=tmp_path / "runs", cache=cli_cache)
    assert "ptlab: note:" not in whole.stderr
