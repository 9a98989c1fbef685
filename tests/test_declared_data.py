"""Data declared in YAML alone (issue 24, items 6 and 7): column paths into nested JSON, choices
and their per-example labels from a list of objects (AI2's ARC jsonl, no flattening script), a
format per split, `lines` with a header to skip, SQuAD-format files without titles, YAML 1.2
booleans (`{true: yes, false: no}` as written), and the README's own task examples."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import json
import re
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from cli import ptlab_ok, record, run_dirs
from ptlab import resolvers
from ptlab.data.sources import load_split
from ptlab.errors import ConfigError, DataError
from test_bad_input import error_line, ptlab
from test_task_yaml import make_task, write

REPO = Path(__file__).resolve().parents[1]

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


@pytest.mark.slow
def test_arc_declared_in_yaml_alone_runs_zero_shot_through_the_cli(tmp_path, cli_cache):
    write(tmp_path / "conf/task/arc_mini.yaml", ARC_TASK.format(name="arc_mini"))
    log_dir = tmp_path / "runs"
    ptlab_ok(
        f"--config-dir={tmp_path / 'conf'}",
        "task=arc_mini",
        "model=tiny-llama",
        "method=zero_shot",
        f"paths.data_dir={arc_data(tmp_path / 'data')}",
        log_dir=log_dir,
        cache=cli_cache,
    )
    [run_dir] = run_dirs(log_dir)
    assert record(run_dir)["status"] == "completed"
    rows = [json.loads(line) for line in (run_dir / "predictions_val.jsonl").read_text().splitlines()]
    by_prompt = {row["prompt"]: row for row in rows}  # evaluation batches are length-sorted
    for (stem, choices, _), gold in zip(ARC, ARC_GOLD):
        [row] = [r for p, r in by_prompt.items() if stem in p]
        assert row["choices"] == [text for _, text in choices] and row["gold"] == gold


# ------------------------------------------------------------------ a format per split


def test_a_headerless_tsv_for_train_and_a_csv_with_a_header_for_test(tmp_path):
    write(tmp_path / "m/train.tsv", "pos\tgood film\nneg\tbad film\n")
    write(tmp_path / "m/test.csv", 'text,label\n"fine, really",pos\n')
    files = {"train": {"file": "train.tsv", "format": "tsv", "names": ["label", "text"]}, "test": "test.csv"}
    cfg = make_task(local={"dir": "m", "format": "csv", "files": files})
    assert [(e.fields["text"], e.label) for e in load_split(cfg, "train", "local", tmp_path)] == [
        ("good film", 1),
        ("bad film", 0),
    ]
    assert [(e.fields["text"], e.label) for e in load_split(cfg, "test", "local", tmp_path)] == [("fine, really", 1)]


@pytest.mark.parametrize(
    "local, message",
    [
        (
            {"files": {"train": {"file": "a.tsv", "fromat": "csv"}}},
            "unknown key task.local.files.train.fromat; did you mean task.local.files.train.format?",
        ),
        ({"files": {"train": {"format": "csv"}}}, "task.local.files.train needs file:"),
        ({"files": {"train": ["a.tsv"]}}, r"task.local.files.train=\['a.tsv'\]: a file name, or"),
        (
            {"names": ["label", "text"], "files": {"train": {"file": "a.jsonl", "format": "jsonl"}}},
            "task.local.files.train: task.local.names is not an option of format 'jsonl' .*set names: null in this",
        ),
        (
            {"files": {"train": {"file": "a.txt", "format": "lines"}}},
            "task.local.files.train: task.local.format=lines needs",
        ),
        ({"format": None, "files": {"train": "a.tsv"}}, "task.local.format is required"),
        ({"files": {"train": "a.tsv", "test": {"file": "a.tsv"}}}, "train and test read a.tsv"),
    ],
)
def test_per_split_entries_are_checked_before_any_file_is_read(local, message):
    with pytest.raises(ConfigError, match=message):
        make_task(local={"dir": "d", "format": "tsv", **local})


# ------------------------------------------------------------------ lines with a header, squad without titles


def test_lines_skip_a_header_and_name_later_lines_by_their_place_in_the_file(tmp_path):
    path = write(tmp_path / "l/train.txt", "label|text\npos|good film\nnothing to split\n")
    local = {
        "dir": "l",
        "format": "lines",
        "files": {"train": "train.txt"},
        "separator": "|",
        "names": ["label", "text"],
        "skip_lines": 1,
    }
    with pytest.raises(DataError, match=re.escape(f"{path}:3: expected 2 fields")):
        load_split(make_task(local=local), "train", "local", tmp_path)
    write(path, "label|text\npos|good film\n")
    [ex] = load_split(make_task(local=local), "train", "local", tmp_path)
    assert (ex.fields["text"], ex.label) == ("good film", 1)
    with pytest.raises(ConfigError, match="task.local.skip_lines is not an option of format 'tsv'"):
        make_task(local={"dir": "l", "format": "tsv", "files": {"train": "x.tsv"}, "skip_lines": 1})


def test_squad_format_without_titles_names_each_document_by_its_position(tmp_path):
    def article(i):
        context = f"Paper {i} studies topic {i}."
        return {
            "paragraphs": [
                {
                    "context": context,
                    "qas": [
                        {
                            "id": f"q{i}",
                            "question": "What?",
                            "answers": [{"text": f"topic {i}", "answer_start": context.index("topic")}],
                        }
                    ],
                }
            ]
        }

    write(tmp_path / "p/papers.json", json.dumps({"data": [article(i) for i in range(3)]}))
    files = {"train": "papers.json", "test": "papers.json"}
    cfg = make_task(
        kind="generation",
        labels=None,
        metrics=["f1"],
        main_metric="f1",
        template="{context} {question}",
        columns={"context": "context", "question": "question", "target": "answers"},
        local={
            "dir": "p",
            "format": "squad",
            "files": files,
            "split_by": {"column": "title", "groups": {"train": [0, 2], "test": [2, None]}},
        },
    )
    assert [ex.target for ex in load_split(cfg, "train", "local", tmp_path)] == ["topic 0", "topic 1"]
    assert [ex.target for ex in load_split(cfg, "test", "local", tmp_path)] == ["topic 2"]


# ------------------------------------------------------------------ YAML booleans, the README's examples


def task_from_yaml(path: Path, text: str):
    """A task YAML as ptlab-train reads it: its own YAML loader, then the kind's schema and checks."""
    resolvers.register()
    write(path, text)
    return make_task(**OmegaConf.to_container(OmegaConf.load(path)))


def test_yes_and_no_are_words_and_true_and_false_truth_values(tmp_path):
    cfg = task_from_yaml(
        tmp_path / "t.yaml",
        "labels: {no: ' no', yes: ' yes'}\nlabel_values: {true: yes, false: no}\n"
        "local: {dir: b, format: jsonl, files: {train: train.jsonl}}\n",
    )
    assert (cfg.labels, cfg.label_values) == ({"no": " no", "yes": " yes"}, {True: "yes", False: "no"})
    write(tmp_path / "b/train.jsonl", '{"text": "a", "label": true}\n{"text": "b", "label": false}\n')
    assert [ex.label for ex in load_split(cfg, "train", "local", tmp_path)] == [1, 0]


def readme_tasks_section() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("\n## Tasks and data")
    return text[start : text.index("\n## ", start + 1)]


def test_every_yaml_example_in_the_readmes_task_sections_validates_and_loads(tmp_path):
    blocks = re.findall(r"```yaml\n(.*?)```", readme_tasks_section(), re.S)
    assert blocks, "no ```yaml example in the README's Tasks and data section"
    for i, block in enumerate(blocks):
        cfg = task_from_yaml(tmp_path / f"conf/task/example{i}.yaml", block)
        if cfg.kind != "classification" or cfg.local is None or cfg.local.format not in ("csv", "tsv", "jsonl"):
            continue  # validated; data is written below for the flat formats of a classification task
        for split in cfg.local.files:
            local = cfg.local.of(split)
            row = {column: "some text" for column in cfg.columns.values()} | {
                cfg.columns["label"]: list(cfg.labels)[-1]
            }
            write(tmp_path / "data" / local.dir / local.files[split], _file(local, row))
            [ex] = load_split(cfg, split, "local", tmp_path / "data")
            assert ex.label == len(cfg.labels) - 1


def _file(local, row) -> str:
    if local.format == "jsonl":
        return json.dumps(row) + "\n"
    sep = "\t" if local.format == "tsv" else ","
    header = "" if local.names else sep.join(row) + "\n"
    return header + sep.join(row[c] for c in (local.names or row)) + "\n"


def test_the_readmes_label_values_examples_work_as_written(tmp_path):
    """Each `label_values` example in the README's table (a bare `{...}` beside one is another value
    for it), with labels named as it names them; a truth-value example reads a JSON boolean column."""
    [row] = [line for line in readme_tasks_section().splitlines() if "`label_values:" in line]
    spans = re.findall(r"`([^`]+)`", row)
    examples = [s.removeprefix("label_values:").strip() for s in spans if s.startswith(("label_values:", "{"))]
    assert len(examples) >= 2, row
    resolvers.register()  # ptlab's YAML loader, as ptlab-train reads a task file
    for i, example in enumerate(examples):
        values = OmegaConf.to_container(OmegaConf.create(f"v: {example}"))["v"]
        labels = ", ".join(f"{name}: ' {name}'" for name in dict.fromkeys(values.values()))
        cfg = task_from_yaml(
            tmp_path / f"t{i}.yaml",
            f"labels: {{{labels}}}\nlabel_values: {example}\n"
            f"local: {{dir: d{i}, format: jsonl, files: {{train: t.jsonl}}}}\n",
        )
        write(
            tmp_path / f"d{i}/t.jsonl", "".join(json.dumps({"text": "x", "label": k}) + "\n" for k in cfg.label_values)
        )
        names = list(cfg.labels)
        assert [names[ex.label] for ex in load_split(cfg, "train", "local", tmp_path)] == list(
            cfg.label_values.values()
        )
