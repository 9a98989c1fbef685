"""Nested records declared in YAML alone (issue 24, item 6): column paths into nested JSON, choices
and their per-example labels from a list of objects (AI2's ARC jsonl, no flattening script), and a
path that does not fit a record as one error line naming file, line and path. Item 7 (formats,
booleans, the docs' examples): tests/test_declared_formats.py."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from cli import ptlab_ok, record, run_dirs
from ptlab.data.sources import load_split
from ptlab.errors import ConfigError, DataError
from test_bad_input import error_line, ptlab
from test_task_yaml import make_task, write

# ------------------------------------------------------------------ ARC: nested records, per-example labels

ARC_TASK = """\
name: {name}
kind: multiple_choice
local: {{dir: arc, format: jsonl, files: {{train: train.jsonl, validation: dev.jsonl}}}}
columns:
  question: question.stem
  choices: question.choices[].text
  choice_labels: question.choices[].label
  label: answerKey
choices: [choices]
template: "Question: {{question}}\\nAnswer:"
metrics: [accuracy]
main_metric: accuracy
max_source_length: 64
max_target_length: 16
"""

# (stem, [(label, text)], answerKey): letters A-D, a "1"-"4" question, three and five choices.
ARC = [
    ("Which gas do plants take in?", [("A", "oxygen"), ("B", "carbon dioxide"), ("C", "helium"), ("D", "neon")], "B"),
    ("What melts ice fastest?", [("1", "salt"), ("2", "sand"), ("3", "sawdust"), ("4", "gravel")], "1"),
    ("Which is a mammal?", [("A", "trout"), ("B", "frog"), ("C", "whale")], "C"),
    (
        "What pulls objects to Earth?",
        [("A", "light"), ("B", "sound"), ("C", "heat"), ("D", "wind"), ("E", "gravity")],
        "E",
    ),
    ("Which is a liquid at room temperature?", [("1", "iron"), ("2", "water"), ("3", "salt")], "2"),
]
ARC_GOLD = [1, 0, 2, 4, 1]


def arc_line(i: int, stem: str, choices, key: str) -> str:
    question = {"stem": stem, "choices": [{"text": text, "label": label} for label, text in choices]}
    return json.dumps({"id": f"Q{i}", "question": question, "answerKey": key}) + "\n"


def arc_data(root: Path) -> Path:
    """AI2's ARC jsonl layout: the same five questions in train and dev."""
    text = "".join(arc_line(i, *row) for i, row in enumerate(ARC))
    write(root / "arc/train.jsonl", text)
    write(root / "arc/dev.jsonl", text)
    return root


def arc_task(**changes):
    fields = OmegaConf.to_container(OmegaConf.create(ARC_TASK.format(name="arc")))
    return make_task(**{**fields, "labels": None, **changes})


def test_arc_jsonl_reads_nested_paths_and_looks_the_answer_key_up_among_each_questions_labels(tmp_path):
    examples = load_split(arc_task(), "validation", "local", arc_data(tmp_path))
    assert [ex.fields for ex in examples] == [{"question": stem} for stem, _, _ in ARC]
    assert [ex.choices for ex in examples] == [[text for _, text in choices] for _, choices, _ in ARC]
    assert [ex.label for ex in examples] == ARC_GOLD


def test_a_hub_style_struct_of_lists_and_an_index_read_by_path(tmp_path):
    """HF's allenai/ai2_arc nests the choices as {text: [...], label: [...]}; `[N]` takes one item."""
    rows = [{"q": "Which is a mammal?", "choices": {"text": ["trout", "whale"], "label": ["A", "B"]}, "answerKey": "B"}]
    write(tmp_path / "arc/train.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    columns = {"question": "q", "first": "choices.text[0]", "choices": "choices.text"}
    cfg = arc_task(
        local={"dir": "arc", "format": "jsonl", "files": {"train": "train.jsonl"}},
        columns={**columns, "choice_labels": "choices.label", "label": "answerKey"},
        template="{question} ({first})",
    )
    [ex] = load_split(cfg, "train", "local", tmp_path)
    assert (ex.fields, ex.choices, ex.label) == (
        {"question": "Which is a mammal?", "first": "trout"},
        ["trout", "whale"],
        1,
    )


def test_a_header_naming_a_dotted_column_is_that_column_not_a_path(tmp_path):
    write(tmp_path / "d/train.csv", "q.text,label\ngood film,pos\n")
    cfg = make_task(
        local={"dir": "d", "format": "csv", "files": {"train": "train.csv"}},
        columns={"text": "q.text", "label": "label"},
    )
    [ex] = load_split(cfg, "train", "local", tmp_path)
    assert (ex.fields, ex.label) == ({"text": "good film"}, 1)


@pytest.mark.parametrize(
    "line, needle",
    [
        (
            '{"question": {"stem": "s", "options": []}, "answerKey": "A"}',
            "question has no key 'choices'; its keys: ['stem', 'options']",
        ),
        ('{"question": "s", "answerKey": "A"}', "question is text, not an object with a key 'stem'"),
        (
            '{"question": {"stem": "s", "choices": [{"text": "x", "label": "A"}, {"label": "B"}]}, "answerKey": "A"}',
            "question.choices[1] has no key 'text'",
        ),
        (
            '{"question": {"stem": "s", "choices": {"text": "x"}}, "answerKey": "A"}',
            "question.choices is an object, not a list",
        ),
        (
            '{"question": {"stem": "s", "choices": [{"text": "x", "label": "A"}]}, "answerKey": "C"}',
            "label 'C' (column 'answerKey') is not one of this example's choice labels ['A']",
        ),
    ],
    ids=["missing-key", "not-an-object", "missing-in-an-item", "not-a-list", "unknown-answer-key"],
)
def test_a_path_that_does_not_fit_a_record_is_one_line_naming_file_line_and_path(tmp_path, line, needle):
    data = arc_data(tmp_path)
    path = data / "arc/dev.jsonl"
    write(path, path.read_text() + line + "\n")
    with pytest.raises(DataError) as info:
        load_split(arc_task(), "validation", "local", data)
    message = str(info.value)
    assert message.startswith(f"{path}:6: ") and needle in message and "\n" not in message, message


def test_choice_labels_and_label_values_together_are_refused():
    with pytest.raises(ConfigError, match="task.label_values and task.columns.choice_labels"):
        arc_task(label_values={"A": 0})


@pytest.mark.slow
def test_a_bad_path_through_the_cli_is_one_error_line(tmp_path, cli_cache):
    write(tmp_path / "conf/task/arc_bad.yaml", ARC_TASK.format(name="arc_bad"))
    data = arc_data(tmp_path / "data")
    path = data / "arc/dev.jsonl"
    write(path, path.read_text() + '{"question": {"stem": "s"}, "answerKey": "A"}\n')
    proc = ptlab(
        f"--config-dir={tmp_path / 'conf'}",
        "task=arc_bad",
        "model=tiny-llama",
        "method=zero_shot",
        log_dir=tmp_path / "runs",
        cache=cli_cache,
        data_dir=data,
    )
    line = error_line(proc)
    assert f"{path}:6: task.columns.choices='question.choices[].text': question has no key 'choices'" in line, line


def arc_predictions(tmp_path, cli_cache, name: str, task_yaml: str) -> list:
    """The dev predictions of zero-shot tiny-llama through the CLI on the ARC fixture, read by the
    task `name` that `task_yaml` declares."""
    write(tmp_path / f"conf/task/{name}.yaml", task_yaml)
    log_dir = tmp_path / "runs"
    ptlab_ok(
        f"--config-dir={tmp_path / 'conf'}",
        f"task={name}",
        "model=tiny-llama",
        "method=zero_shot",
        f"paths.data_dir={arc_data(tmp_path / 'data')}",
        log_dir=log_dir,
        cache=cli_cache,
    )
    [run_dir] = run_dirs(log_dir)
    assert record(run_dir)["status"] == "completed"
    return [json.loads(line) for line in (run_dir / "predictions_val.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_arc_declared_in_yaml_alone_runs_zero_shot_through_the_cli(tmp_path, cli_cache):
    rows = arc_predictions(tmp_path, cli_cache, "arc_mini", ARC_TASK.format(name="arc_mini"))
    by_prompt = {row["prompt"]: row for row in rows}  # evaluation batches are length-sorted
    for (stem, choices, _), gold in zip(ARC, ARC_GOLD):
        [row] = [r for p, r in by_prompt.items() if stem in p]
        assert row["choices"] == [text for _, text in choices] and row["gold"] == gold
