"""A new task of an existing kind is a YAML file: label values (booleans, 1-based ints, refused when
ambiguous), per-split columns, headerless files, a line format (regex or separator), templates over
several columns, splits carved from one file by group, a cap on k, and a user's own config dir."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from cli import ptlab_env, record, run_dirs
from ptlab.data.sources import load_split
from ptlab.errors import ConfigError, DataError
from ptlab.kinds import kind_class
from ptlab.config.validation import check_task

REPO = Path(__file__).resolve().parents[1]


def make_task(**fields):
    """A validated task config from YAML-like fields (the kind's schema, as validation merges it)."""
    base = {"name": "t", "kind": "classification", "template": "{text} ->", "metrics": ["accuracy"]}
    base.update(
        main_metric="accuracy", labels={"neg": " bad", "pos": " good"}, columns={"text": "text", "label": "label"}
    )
    base.update(fields)
    base = {key: value for key, value in base.items() if value is not None}  # None: leave the key out
    kind = kind_class(base["kind"])
    cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(kind.config), OmegaConf.create(base)))
    check_task(cfg)
    return cfg


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def labels_of(cfg, tmp_path, split="train"):
    return [ex.label for ex in load_split(cfg, split, "local", tmp_path)]


def data_error(cfg, tmp_path, split="train") -> str:
    with pytest.raises(DataError) as info:
        load_split(cfg, split, "local", tmp_path)
    return str(info.value)


# ------------------------------------------------------------------ label values


def test_boolean_labels_map_through_label_values(tmp_path):
    write(tmp_path / "b/train.jsonl", '{"text": "a", "ok": true}\n{"text": "b", "ok": false}\n')
    cfg = make_task(
        local={"dir": "b", "format": "jsonl", "files": {"train": "train.jsonl"}},
        columns={"text": "text", "label": "ok"},
        label_values={True: "pos", False: "neg"},
    )
    assert labels_of(cfg, tmp_path) == [1, 0]


def test_one_based_integer_labels_map_through_label_values_not_as_indices(tmp_path):
    write(tmp_path / "o/train.tsv", "text\tlabel\na\t1\nb\t2\n")
    cfg = make_task(
        local={"dir": "o", "format": "tsv", "files": {"train": "train.tsv"}}, label_values={1: "neg", 2: "pos"}
    )
    assert labels_of(cfg, tmp_path) == [0, 1]


def test_integer_labels_without_label_values_are_refused_as_ambiguous(tmp_path):
    path = write(tmp_path / "o/train.tsv", "text\tlabel\na\t1\nb\t0\n")
    cfg = make_task(local={"dir": "o", "format": "tsv", "files": {"train": "train.tsv"}})
    msg = data_error(cfg, tmp_path)
    assert f"{path}:2" in msg and "0- or 1-based" in msg and "task.label_values" in msg and "\n" not in msg


def test_unmapped_value_and_bad_mapping_name_the_key(tmp_path):
    path = write(tmp_path / "o/train.tsv", "text\tlabel\na\t1\nb\t3\n")
    cfg = make_task(
        local={"dir": "o", "format": "tsv", "files": {"train": "train.tsv"}}, label_values={1: "neg", 2: "pos"}
    )
    msg = data_error(cfg, tmp_path)
    assert f"{path}:3" in msg and "'3'" in msg and "task.label_values maps [1, 2]" in msg
    with pytest.raises(ConfigError, match="task.label_values.2='positive' is not a label name"):
        make_task(
            local={"dir": "o", "format": "tsv", "files": {"train": "train.tsv"}}, label_values={1: "neg", 2: "positive"}
        )


# ------------------------------------------------------------------ columns and formats


def test_per_split_columns_and_a_template_over_two_columns(tmp_path):
    write(tmp_path / "c/train.csv", "title,body,label\nGreat,loved it,pos\n")
    write(tmp_path / "c/dev.csv", "title,body,gold\nAwful,hated it,neg\n")
    cfg = make_task(
        local={"dir": "c", "format": "csv", "files": {"train": "train.csv", "validation": "dev.csv"}},
        columns={"title": "title", "body": "body", "label": "label"},
        split_columns={"validation": {"label": "gold"}},
        template="{title}. {body} ->",
    )
    [dev] = load_split(cfg, "validation", "local", tmp_path)
    assert (dev.fields, dev.label) == ({"title": "Awful", "body": "hated it"}, 0)
    with pytest.raises(ConfigError, match="task.split_columns.test: task t declares no split 'test'"):
        make_task(local=cfg.local.__dict__ | {"split_by": None}, split_columns={"test": {"label": "x"}})


def test_headerless_tsv_takes_its_column_names_from_the_yaml(tmp_path):
    write(tmp_path / "h/train.tsv", "pos\tgood film\nneg\tbad film\n")
    cfg = make_task(local={"dir": "h", "format": "tsv", "files": {"train": "train.tsv"}, "names": ["label", "text"]})
    examples = load_split(cfg, "train", "local", tmp_path)
    assert [(e.fields["text"], e.label) for e in examples] == [("good film", 1), ("bad film", 0)]


def test_lines_with_a_regex_and_with_a_separator(tmp_path):
    path = write(tmp_path / "l/train.txt", "DESC:manner How did serfdom develop ?\nHUM:ind Who killed Gandhi ?\n\n")
    labels = {"DESC": " description", "HUM": " person"}
    pattern = r"(?P<label>[A-Z]+):(?P<fine>\S+) (?P<text>.*)"
    cfg = make_task(
        local={"dir": "l", "format": "lines", "files": {"train": "train.txt"}, "pattern": pattern}, labels=labels
    )
    examples = load_split(cfg, "train", "local", tmp_path)
    assert [(e.fields["text"], e.label) for e in examples] == [
        ("How did serfdom develop ?", 0),
        ("Who killed Gandhi ?", 1),
    ]
    write(path, "DESC:manner How did serfdom develop ?\nno label here\n")
    msg = data_error(cfg, tmp_path)
    assert f"{path}:2: does not match task.local.pattern" in msg
    write(tmp_path / "s/train.txt", "HUM|Who killed Gandhi | really ?\n")
    local = {
        "dir": "s",
        "format": "lines",
        "files": {"train": "train.txt"},
        "separator": "|",
        "names": ["label", "text"],
    }
    [ex] = load_split(make_task(local=local, labels=labels), "train", "local", tmp_path)
    assert (ex.fields["text"], ex.label) == ("Who killed Gandhi | really ?", 1)  # cut at the first separator only


@pytest.mark.parametrize(
    "local,message",
    [
        ({"format": "lines"}, "needs task.local.pattern or task.local.separator"),
        ({"format": "lines", "pattern": "(unclosed"}, "task.local.pattern is not a regex"),
        ({"format": "lines", "pattern": "(.*)"}, "has no named group"),
        ({"format": "jsonl", "names": ["a"]}, "task.local.names is not an option of format 'jsonl'"),
        ({"format": "parquet"}, "unknown task.local.format='parquet'"),
        ({"files": {"train": "x.tsv", "validation": "x.tsv"}}, "train and validation read x.tsv"),
        (
            {
                "files": {"train": "x.tsv", "validation": "x.tsv"},
                "split_by": {"column": "g", "groups": {"train": [0, 3], "validation": [2, None]}},
            },
            "overlap",
        ),
    ],
)
def test_local_options_are_checked_before_any_file_is_read(local, message):
    with pytest.raises(ConfigError, match=message):
        make_task(local={"dir": "d", "format": "tsv", "files": {"train": "x.tsv"}, **local})


def test_split_by_group_keeps_every_group_in_one_split(tmp_path):
    rows = [{"text": f"{g}{i}", "label": "pos", "doc": g} for g in "abcde" for i in range(3)]
    write(tmp_path / "g/all.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    cfg = make_task(
        local={
            "dir": "g",
            "format": "jsonl",
            "files": {"train": "all.jsonl", "validation": "all.jsonl"},
            "split_by": {"column": "doc", "groups": {"train": [0, 2], "validation": [2, None]}},
        }
    )
    train = {ex.fields["text"][0] for ex in load_split(cfg, "train", "local", tmp_path)}
    dev = {ex.fields["text"][0] for ex in load_split(cfg, "validation", "local", tmp_path)}
    assert (train, dev) == ({"a", "b"}, {"c", "d", "e"})


# ------------------------------------------------------------------ the CLI: a user's config dir, a cap on k


@pytest.mark.slow
def test_a_users_task_yaml_in_their_own_config_dir_runs_through_the_cli(tmp_path):
    """Unseen data (TREC-style lines, 1-based coarse classes via a regex) and a YAML outside the
    package: `--config-dir` puts the user's dir on Hydra's search path."""
    import subprocess
    import sys

    lines = [f"{c}:x question {i} about {w} ?" for i in range(6) for c, w in (("1", "people"), ("2", "places"))]
    write(tmp_path / "data/trec/train.txt", "\n".join(lines) + "\n")
    write(tmp_path / "data/trec/dev.txt", "1:x who is it ?\n2:x where is it ?\n")
    local = {"dir": "trec", "format": "lines", "files": {"train": "train.txt", "validation": "dev.txt"}}
    task = dict(name="my_trec", kind="classification", columns={"text": "text", "label": "label"})
    task.update(
        local={**local, "pattern": r"(?P<label>\d):(?P<fine>\S+) (?P<text>.*)"},
        labels={"person": " person", "place": " place"},
        label_values={1: "person", 2: "place"},
        template="Question: {text}\nAbout a:",
        metrics=["accuracy"],
        main_metric="accuracy",
    )
    write(tmp_path / "my-conf/task/my_trec.yaml", OmegaConf.to_yaml(OmegaConf.create(task)))
    env = ptlab_env(tmp_path / "runs", tmp_path / "cache", data_dir=tmp_path / "data")
    proc = subprocess.run(
        [sys.executable, "-m", "ptlab.train", "--config-dir", str(tmp_path / "my-conf")]
        + ["task=my_trec", "model=tiny-llama", "method=full_finetune", "data.k=100", "data.cap_k=true"]
        + ["trainer.max_steps=2", "data.batch_size=4"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    [run] = run_dirs(tmp_path / "runs")
    result = record(run)
    assert result["status"] == "completed" and result["data"] == {"train": 12, "validation": 2}
    assert 0 <= result["metrics"]["val_final"]["accuracy"] <= 1


def test_k_beyond_the_training_set_is_an_error_naming_cap_k(compose_run):
    from ptlab.run.build import build_data

    overrides = ("model=tiny-llama", "method=full_finetune", "task=rte", "data.k=100000")
    capped = build_data(compose_run(*overrides, "data.cap_k=true"))
    capped.read()
    pool = len(capped.raw["train"])  # what cap_k=true takes: the whole pool k is drawn from
    # RTE's 2,490 training examples less any the test split has, the 277 carved for validation and
    # the pool examples overlapping a validation text (carve.py drops them)
    carve_dropped = capped.selection["pool_dropped_as_overlapping"]
    assert pool == 2490 - capped.dropped.get("train", 0) - 277 - carve_dropped and carve_dropped > 0
    with pytest.raises(DataError, match=f"asked for 100000 examples of train, which has only {pool} .*data.cap_k=true"):
        build_data(compose_run(*overrides)).read()


@pytest.mark.parametrize(
    "fields,message",
    [
        (
            {"labels": {"1": " one", "2": " two"}, "label_values": {0: "1", 1: "2"}},
            "the data value 1 also names the label '1'",
        ),
        ({"label_values": {0: "neg", "pos": "pos"}}, "mix types"),
        ({"label_values": {True: "pos", "no": "neg"}}, "mix types"),
    ],
)
def test_label_values_that_would_mean_two_things_are_refused(fields, message):
    with pytest.raises(ConfigError, match=message):
        make_task(local={"dir": "d", "format": "tsv", "files": {"train": "x.tsv"}}, **fields)


def test_label_values_on_a_kind_without_labels_is_refused():
    gen = {"kind": "generation", "columns": {"text": "text", "target": "ref"}, "metrics": ["bleu"], "labels": None}
    with pytest.raises(ConfigError, match="task.label_values: a generation task has no labels to map"):
        make_task(
            local={"dir": "d", "format": "tsv", "files": {"train": "x.tsv"}},
            main_metric="bleu",
            **gen,
            label_values={0: "a"},
        )
