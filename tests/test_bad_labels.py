"""Labels read wrong are errors, never numbers (issue 22), through the real CLI.

Label values are typed: a JSON true/false (COPA- and RTE-style jsonl) or a tsv's "true"/"false"
is a truth value, matched only by truth-value keys of `task.label_values` (or a label named
true/false), never by the 1/0 of a numeric map, which read every gold label inverted with exit 0.
A `task.label_values` that is not one-to-one, and a task YAML whose mapping has two keys that
YAML reads as one (`0` twice, `true` and `1`, `1` and `1.0`) or that ptlab reads as one data
value (`1` and `"1"`), are config errors naming the key: each made one class vanish.

Each task is a user's own YAML in a `--config-dir`, as the docs' "Add a task" page shows.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from cli import record, run_dirs
from test_bad_input import error_line, ptlab, written
from test_bad_input_files import failed_run
from test_task_yaml import labels_of, make_task, write

RTE_LIKE = """\
name: {name}
kind: classification
local: {{dir: {name}, format: {format}, files: {{train: train.{format}, validation: val.{format}}}}}
columns: {{premise: premise, hypothesis: hypothesis, label: label}}
label_values: {label_values}
labels: {{entailment: " True", not_entailment: " False"}}
template: "{{premise}}\\nQuestion: {{hypothesis}} True or False?\\nAnswer:"
metrics: [accuracy]
main_metric: accuracy
"""

# Gold labels of the data below: alternately entailed (true) and not.
GOLD = [i % 2 == 0 for i in range(20)]


def rte_like(tmp_path: Path, fmt: str, label_values: str, labels=GOLD) -> tuple:
    """(the --config-dir override, the data dir) of a user's RTE-style task `bt_<fmt>`: jsonl with
    JSON true/false labels, or tsv with the strings "true"/"false" (`labels` as they are written)."""
    name = f"bt_{fmt}"
    write(
        tmp_path / "conf" / "task" / f"{name}.yaml", RTE_LIKE.format(name=name, format=fmt, label_values=label_values)
    )
    for split in ("train", "val"):
        if fmt == "jsonl":
            rows = "".join(
                json.dumps({"premise": f"{split} {i}", "hypothesis": f"h{i}", "label": g}) + "\n"
                for i, g in enumerate(labels)
            )
        else:
            rows = "premise\thypothesis\tlabel\n" + "".join(f"{split} {i}\th{i}\t{g}\n" for i, g in enumerate(labels))
        write(tmp_path / "data" / name / f"{split}.{fmt}", rows)
    return f"--config-dir={tmp_path / 'conf'}", tmp_path / "data"


def zero_shot(*overrides: str, **where) -> subprocess.CompletedProcess:
    """tiny-llama x zero_shot on the task the overrides name (a config error returns in ~1 s)."""
    return ptlab(*overrides, "model=tiny-llama", "method=zero_shot", **where)


def copa_with_booleans(tmp_path: Path) -> Path:
    """The shipped copa task's files, with each label written as a JSON true/false."""
    for name, count in (("train.jsonl", 120), ("val.jsonl", 10)):
        rows = [
            {"premise": f"{name} {i}.", "choice1": "It got wet.", "choice2": "It shone.", "question": "effect"}
            for i in range(count)
        ]
        write(
            tmp_path / "data" / "copa" / name,
            "".join(json.dumps({**r, "label": i % 2 == 1}) + "\n" for i, r in enumerate(rows)),
        )
    return tmp_path / "data"


# ---------------------------------------------------------------- truth values never read as 1/0


@pytest.mark.slow
@pytest.mark.parametrize("fmt, first", [("jsonl", 1), ("tsv", 2)], ids=["jsonl-true-false", "tsv-strings"])
def test_truth_values_through_a_numeric_map_are_an_error_not_inverted_labels(fmt, first, tmp_path, cli_cache):
    config_dir, data_dir = rte_like(
        tmp_path, fmt, "{0: entailment, 1: not_entailment}", [str(g).lower() for g in GOLD] if fmt == "tsv" else GOLD
    )
    line = failed_run(
        tmp_path, cli_cache, config_dir, f"task=bt_{fmt}", "model=tiny-llama", "method=zero_shot", data_dir=data_dir
    )
    assert f"{data_dir / f'bt_{fmt}'}/" in line and f".{fmt}:{first}: label" in line, line
    for needle in ("column 'label'", "is a truth value", "task.label_values is keyed by numbers", "true/false"):
        assert needle in line, line


@pytest.mark.slow
def test_copa_style_boolean_labels_through_choice_positions_are_an_error(tmp_path, cli_cache):
    data_dir = copa_with_booleans(tmp_path)
    line = failed_run(tmp_path, cli_cache, "task=copa", "model=tiny-llama", "method=zero_shot", data_dir=data_dir)
    assert f"{data_dir / 'copa' / 'train.jsonl'}:1: label False (column 'label')" in line, line
    assert "is not a key of task.label_values [0, 1]" in line and "is a truth value" in line, line


@pytest.mark.slow
def test_truth_value_keys_read_a_boolean_column_by_its_truth(tmp_path, cli_cache):
    config_dir, data_dir = rte_like(tmp_path, "jsonl", "{true: entailment, false: not_entailment}")
    log_dir = tmp_path / "runs"
    proc = zero_shot(config_dir, "task=bt_jsonl", log_dir=log_dir, cache=cli_cache, data_dir=data_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [run_dir] = run_dirs(log_dir)
    assert record(run_dir)["status"] == "completed"
    rows = [json.loads(line) for line in (run_dir / "predictions_val.jsonl").read_text().splitlines()]
    assert [row["gold"] for row in rows] == ["entailment" if g else "not_entailment" for g in GOLD]


def test_truth_value_strings_read_by_their_truth_in_any_case(tmp_path):
    """In-process variant: a tsv's "True"/"FALSE" strings, through truth-value keys or through
    labels named by truth value, the way a JSON true/false is."""
    write(tmp_path / "t/train.tsv", "text\tlabel\na\tTrue\nb\tFALSE\nc\ttrue\n")
    local = {"dir": "t", "format": "tsv", "files": {"train": "train.tsv"}}
    assert labels_of(make_task(local=local, label_values={True: "pos", False: "neg"}), tmp_path) == [1, 0, 1]
    named = make_task(local=local, labels={"false": " no", "true": " yes"})
    assert labels_of(named, tmp_path) == [1, 0, 1]
    write(tmp_path / "j/train.jsonl", '{"text": "a", "label": true}\n{"text": "b", "label": false}\n')
    jsonl = {"dir": "j", "format": "jsonl", "files": {"train": "train.jsonl"}}
    assert labels_of(make_task(local=jsonl, labels={"false": " no", "true": " yes"}), tmp_path) == [1, 0]


# ---------------------------------------------------------------- maps that lose a class: config errors


NUMBERS = [int(not g) for g in GOLD]  # 0 entailment, 1 not: RTE's numbering
# id: (the task YAML's label_values, the data's labels, needles in the error line). Before ptlab
# refused them, each of these maps read both values as one label and the run completed, exit 0.
LABEL_VALUE_ERRORS = {
    "not-one-to-one": (
        "{0: entailment, 1: entailment}",
        NUMBERS,
        ["task.label_values maps both 0 and 1 to 'entailment'", "one-to-one"],
    ),
    "duplicate-key": (
        "{0: entailment, 1: not_entailment, 0: not_entailment}",
        NUMBERS,
        ["bt_jsonl.yaml:5: label_values has the keys '0' and '0'"],
    ),
    "true-is-1": (
        "{0: entailment, 1: not_entailment, true: entailment}",
        NUMBERS,
        ["bt_jsonl.yaml:5: label_values has the keys '1' and 'true'", "(1 == True)"],
    ),
    "1-is-1.0": (
        "{0: entailment, 1: not_entailment, 1.0: entailment}",
        NUMBERS,
        ["label_values has the keys '1' and '1.0'"],
    ),
    "yes-beside-true": (  # ptlab reads YAML 1.2 booleans: yes is a word, and a column holds one type
        "{yes: entailment, no: not_entailment, true: not_entailment}",
        GOLD,
        ["task.label_values: keys ['yes', 'no', True] mix types"],
    ),
    "quoted-1-is-1": (
        "{0: entailment, 1: not_entailment, '1': entailment}",
        NUMBERS,
        ["task.label_values: keys 1 and '1' are one data value"],
    ),
}


@pytest.mark.parametrize("label_values, labels, needles", LABEL_VALUE_ERRORS.values(), ids=LABEL_VALUE_ERRORS.keys())
def test_label_values_that_lose_a_class_are_a_config_error(label_values, labels, needles, tmp_path):
    config_dir, data_dir = rte_like(tmp_path, "jsonl", label_values, labels)
    log_dir = tmp_path / "runs"
    proc = zero_shot(config_dir, "task=bt_jsonl", log_dir=log_dir, cache=tmp_path / "cache", data_dir=data_dir)
    line = error_line(proc)
    for needle in needles:
        assert needle in line, line
    assert written(log_dir) == [], written(log_dir)


def test_choice_positions_that_are_not_one_to_one_are_a_config_error(tmp_path):
    log_dir = tmp_path / "runs"
    data_dir = copa_with_booleans(tmp_path)
    proc = zero_shot(
        "task=copa", "task.label_values={0:0,1:0}", log_dir=log_dir, cache=tmp_path / "cache", data_dir=data_dir
    )
    assert "task.label_values maps both 0 and 1 to 0" in error_line(proc)
    assert written(log_dir) == []
