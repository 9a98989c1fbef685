"""Declaring data (issue 24, item 7): a format per split, `lines` with a header to skip, SQuAD-format
files without titles, YAML 1.2 booleans (`{true: yes, false: no}` as written), and the docs' own
task examples validated and loaded as written."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import json
import re
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from cli import ptlab_ok, record, run_dirs
from ptlab.config import resolvers
from ptlab.data.columns import steps
from ptlab.data.sources import load_split
from ptlab.errors import ConfigError, DataError
from ptlab.kinds import kind_class
from ptlab.config.validation import _typed, check_task
from test_task_yaml import make_task, write

REPO = Path(__file__).resolve().parents[1]

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


PER_SPLIT_TASK = """\
name: reviews
kind: classification
local:
  dir: reviews
  format: csv
  files:
    train: {file: train.tsv, format: tsv, names: [label, text]}
    validation: dev.csv
columns: {text: text, label: label}
labels: {neg: " bad", pos: " good"}
template: "{text} ->"
metrics: [accuracy]
main_metric: accuracy
"""


@pytest.mark.slow
def test_a_format_per_split_runs_through_the_cli_and_fingerprints_each_file(tmp_path, cli_cache):
    """Until issue 24 this task failed in validation with `TypeError: unhashable type: 'dict'`."""
    write(tmp_path / "conf/task/reviews.yaml", PER_SPLIT_TASK)
    write(tmp_path / "data/reviews/train.tsv", "".join(f"{g}\tfilm {i}\n" for i, g in enumerate(["pos", "neg"] * 4)))
    write(tmp_path / "data/reviews/dev.csv", 'text,label\n"fine, really",pos\nawful,neg\n')
    log_dir = tmp_path / "runs"
    ptlab_ok(
        f"--config-dir={tmp_path / 'conf'}",
        "task=reviews",
        "model=tiny-llama",
        "method=in_context",
        "data.k=2",
        f"paths.data_dir={tmp_path / 'data'}",
        log_dir=log_dir,
        cache=cli_cache,
    )
    [run_dir] = run_dirs(log_dir)
    result = record(run_dir)
    assert result["status"] == "completed" and result["data"]["validation"] == 2
    files = result["fingerprint"]["data_files"]
    assert (files["train"]["file"], files["validation"]["file"]) == ("reviews/train.tsv", "reviews/dev.csv")


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


# ------------------------------------------------------------------ YAML booleans, the docs' examples

TEXT_TASK = """\
name: t
kind: classification
local: {{dir: {dir}, format: jsonl, files: {{train: t.jsonl}}}}
columns: {{text: text, label: label}}
template: "{{text}} ->"
metrics: [accuracy]
main_metric: accuracy
"""


def task_from_yaml(path: Path, text: str):
    """A task YAML as ptlab-train reads it: its YAML loader, then validation's merge onto the kind's
    schema and the checks (ptlab/config/validation.py)."""
    resolvers.register()
    node = OmegaConf.load(write(path, text))
    kind = kind_class(node.kind)
    cfg = _typed(kind.config, node, "task")
    check_task(cfg)
    return cfg


def test_yes_and_no_are_words_and_true_and_false_truth_values(tmp_path):
    cfg = task_from_yaml(
        tmp_path / "t.yaml",
        TEXT_TASK.format(dir="b") + "labels: {no: ' no', yes: ' yes'}\nlabel_values: {true: yes, false: no}\n",
    )
    assert (cfg.labels, cfg.label_values) == ({"no": " no", "yes": " yes"}, {True: "yes", False: "no"})
    write(tmp_path / "b/t.jsonl", '{"text": "a", "label": true}\n{"text": "b", "label": false}\n')
    assert [ex.label for ex in load_split(cfg, "train", "local", tmp_path)] == [1, 0]


TASK_PAGES = (
    "tasks.md",
    "howto/add-task.md",
    "howto/add-kind.md",
    "howto/add-model-or-method.md",
    "howto/api-models.md",
)


def readme_tasks_section() -> str:
    """The documentation's pages on tasks (docs/), where every ```yaml block is a whole task."""
    return "\n".join((REPO / "docs" / page).read_text() for page in TASK_PAGES)


def test_every_yaml_example_in_the_readmes_task_sections_validates_and_loads(tmp_path):
    """Each ```yaml block is a whole task: it validates, and a record written for its declared
    columns (paths included) loads from each of its local files with the answer it was given."""
    blocks = re.findall(r"```yaml\n(.*?)```", readme_tasks_section(), re.S)
    assert blocks, "no ```yaml example in the docs' task pages"
    for i, block in enumerate(blocks):
        cfg = task_from_yaml(tmp_path / f"conf/task/example{i}.yaml", block)
        made = _record(cfg)
        if made is None or cfg.local is None:
            continue  # validated; no record is made up for this kind or format
        record, answer = made
        for split in cfg.local.files:
            local = cfg.local.of(split)
            write(tmp_path / "data" / local.dir / local.files[split], _file(local, record))
            [ex] = load_split(cfg, split, "local", tmp_path / "data")
            assert (ex.label if ex.target is None else ex.target) == answer, (block, split)


def _record(cfg):
    """(a record holding every column `cfg` declares, the answer it should load as), or None."""
    columns, fmt = cfg.columns, cfg.local.format if cfg.local else None
    values = {field: "some text" for field in columns}
    if cfg.kind == "classification":
        values["label"] = _data_value(cfg.label_values, list(cfg.labels)[-1])
        answer = len(cfg.labels) - 1
    elif cfg.kind == "multiple_choice":
        values.update({field: ["one", "two"] for field in cfg.choices[:1]})
        if "choice_labels" in columns:
            values.update(choice_labels=["A", "B"], label="B")
        elif cfg.label_values:
            values["label"] = _data_value(cfg.label_values, 1)
        else:  # the column name of the second choice
            values["label"] = columns[cfg.choices[1]]
        answer = 1
    elif cfg.kind == "generation":
        values["target"], answer = "the answer", "the answer"
    else:
        return None
    record = {}
    for field, spec in columns.items():
        _put(record, steps(spec) or (("key", spec),), values[field])
    flat = all(not isinstance(v, (list, dict)) for v in record.values())
    return (record, answer) if fmt == "jsonl" or (fmt in ("csv", "tsv") and flat) else None


def _data_value(label_values, meaning):
    """The data value that `label_values` maps to `meaning` (the meaning itself without a map)."""
    return next((k for k, v in (label_values or {}).items() if v == meaning), meaning)


def _put(node, path, value) -> None:
    """Write `value` where the column path `path` (ptlab.data.columns.steps) reads it."""
    (step, arg), rest = path[0], path[1:]
    empty = (lambda: {}) if rest and rest[0][0] == "key" else (lambda: [])
    if step == "key" and not rest:
        node[arg] = value
    elif step == "key":
        _put(node.setdefault(arg, empty()), rest, value)
    else:  # a list: each item (or item N) holds one value
        items = list(enumerate(value)) if step == "each" else [(arg, value)]
        node.extend(empty() if rest else None for _ in range(max(i for i, _ in items) + 1 - len(node)))
        for i, item in items:
            if rest:
                _put(node[i], rest, item)
            else:
                node[i] = item


def _file(local, row) -> str:
    if local.format == "jsonl":
        return json.dumps(row) + "\n"
    sep = "\t" if local.format == "tsv" else ","
    header = "" if local.names else sep.join(row) + "\n"
    return header + sep.join(str(row[c]) for c in (local.names or row)) + "\n"


def test_the_readmes_label_values_examples_work_as_written(tmp_path):
    """Each `label_values` example in the docs' table (a bare `{...}` beside one is another value
    for it), with labels named as it names them; a truth-value example reads a JSON boolean column."""
    [row] = [line for line in readme_tasks_section().splitlines() if "`label_values:" in line]
    spans = re.findall(r"`([^`]+)`", row)
    examples = [s.removeprefix("label_values:").strip() for s in spans if s.startswith(("label_values:", "{"))]
    assert len(examples) >= 2, row
    resolvers.register()  # ptlab's YAML loader, as ptlab-train reads a task file
    for i, example in enumerate(examples):
        values = OmegaConf.to_container(OmegaConf.create(f"v: {example}"))["v"]
        labels = ", ".join(f"{name}: ' {name}'" for name in dict.fromkeys(values.values()))
        yaml = TEXT_TASK.format(dir=f"d{i}") + f"labels: {{{labels}}}\nlabel_values: {example}\n"
        cfg = task_from_yaml(tmp_path / f"t{i}.yaml", yaml)
        rows = [json.dumps({"text": "x", "label": k}) + "\n" for k in cfg.label_values]
        write(tmp_path / f"d{i}/t.jsonl", "".join(rows))
        names = [list(cfg.labels)[ex.label] for ex in load_split(cfg, "train", "local", tmp_path)]
        assert names == list(cfg.label_values.values())
