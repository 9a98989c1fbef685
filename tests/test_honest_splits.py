"""Selection never sees the reported split: every shipped task reports a `test` split, selects on
a validation split disjoint from it and from the training pool, and every run on a task selects
on the same examples."""

import json
from collections import Counter
from pathlib import Path

import pytest

from ptlab.data.carve import carve
from ptlab.data.datamodule import TaskDataModule
from ptlab.data.sources import Example
from ptlab.errors import ConfigError, DataError, NotApplicable

from cli import ptlab_ok, run_dirs

TASKS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "conf" / "task").glob("*.yaml"))


def _read(compose_run, *overrides):
    data = TaskDataModule(compose_run(*overrides))
    data.read()
    return data


def _key(ex: Example) -> str:
    return json.dumps(ex.fields, sort_keys=True, default=str)


@pytest.mark.parametrize("task", TASKS)
def test_each_shipped_task_selects_on_a_split_that_shares_no_example_with_the_reported_one(compose_run, task):
    try:
        data = _read(compose_run, "model=tiny-llama", "method=full_finetune", f"task={task}")
    except NotApplicable:  # token classification: an encoder's task
        data = _read(compose_run, "model=tiny-bert", "method=full_finetune", f"task={task}")
    assert set(data.raw) == {"train", "validation", "test"}, f"{task} must declare a test split to report"
    train, val, test = ({_key(ex) for ex in data.raw[s]} for s in ("train", "validation", "test"))
    assert not val & test, f"{task}: {len(val & test)} validation inputs are also in test"
    assert not train & test, f"{task}: {len(train & test)} training inputs are also in test"
    if data.run.task.validation_from_train:  # an official dev set may share inputs with train (CoNLL's)
        assert not val & train, f"{task}: {len(val & train)} carved inputs are also in the training pool"
    assert data.origins["validation"] != data.origins["test"]


def test_the_carve_is_stratified_the_same_for_every_run_and_kept_out_of_the_training_pool(compose_run):
    runs = [
        ("model=tiny-bert", "method=full_finetune", "seed=0", "data.k=64"),
        ("model=tiny-bert", "method=full_finetune", "seed=1", "data.k_per_class=32"),
        ("model=tiny-llama", "method=zero_shot", "seed=2"),
    ]
    reads = [_read(compose_run, *overrides) for overrides in runs]
    carved = [[_key(ex) for ex in data.raw["validation"]] for data in reads]
    assert carved[0] == carved[1] == carved[2] and len(carved[0]) == 872
    assert "train" not in reads[2].raw  # zero-shot reads train only to carve the same validation split
    full = _read(compose_run, "model=tiny-bert", "method=full_finetune", "task.validation_from_train.size=872")
    pool_labels, val_labels = (Counter(ex.label for ex in full.raw[s]) for s in ("train", "validation"))
    share = pool_labels[1] / sum(pool_labels.values())
    assert abs(val_labels[1] - 872 * share) <= 1  # the class mix of train (55.8 % positive), to one example
    assert len(full.raw["train"]) + 872 == 67349
    for data in reads[:2]:  # few-shot draws come from the pool only
        assert not {_key(ex) for ex in data.raw["train"]} & set(carved[0])


def test_repeated_inputs_stay_on_one_side_and_sizes_are_exact():
    examples = [Example({"text": f"s{i % 50}"}, label=i % 2) for i in range(200)]  # each text 4 times
    examples += [Example({"text": f"u{i}"}, label=i % 2) for i in range(100)]
    val, pool = carve(examples, 60, seed=7, where="x")
    assert len(val) == 60 and len(pool) == 240
    assert not {_key(e) for e in val} & {_key(e) for e in pool}
    assert Counter(e.label for e in val) == {0: 30, 1: 30}
    assert carve(examples, 60, seed=7, where="x")[0] == val != carve(examples, 60, seed=8, where="x")[0]
    with pytest.raises(DataError, match=r"validation_from_train.size=300 leaves no training examples"):
        carve(examples, 300, seed=0, where="x")


def test_a_carve_beside_a_declared_validation_split_is_a_config_error(compose_run):
    with pytest.raises(ConfigError, match="also declares a validation split"):
        compose_run("task=conll2003", "+task.validation_from_train={size: 10}")
    with pytest.raises(ConfigError, match="validation_from_train.size"):
        compose_run("task=sst2", "task.validation_from_train.size=0")


def test_a_run_records_which_split_selected_and_which_was_reported(tmp_path, cli_cache):
    log_dir = tmp_path / "runs"
    ptlab_ok("model=tiny-bert", "method=full_finetune", "task=rte", "debug=smoke", log_dir=log_dir, cache=cli_cache)
    (run,) = run_dirs(log_dir)
    record = json.loads((run / "results.json").read_text())
    assert record["splits"]["selected_on"] == "validation" and record["splits"]["reported"] == "test"
    assert record["splits"]["from"]["test"].endswith("rte/val.jsonl")
    assert "277 examples carved from train" in record["splits"]["from"]["validation"]
    assert record["data"] == {"train": 16, "validation": 16, "test": 8}
    assert set(record["metrics"]["test"]) >= {"accuracy"}


def test_a_carved_task_without_a_test_split_reads_for_a_method_that_trains_nothing(compose_run):
    data = _read(compose_run, "model=tiny-llama", "method=zero_shot", "~task.local.files.test", "~task.hub.splits.test")
    assert set(data.raw) == {"validation"} and len(data.raw["validation"]) == 872 and data.dropped == {}
