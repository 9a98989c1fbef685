"""Selection never sees the reported split: every shipped task reports a `test` split, selects on
a validation split disjoint from it and from the training pool, and every run on a task selects
on the same examples. A carved validation split is content-disjoint from the pool (no text of one
contains a text of the other, after normalisation), and SST-2's is as long as its dev set."""

import bisect
import json
import statistics
from collections import Counter
from pathlib import Path

import pytest

from ptlab.data.carve import carve, texts_of
from ptlab.data.datamodule import TaskDataModule
from ptlab.data.overlap import normalise
from ptlab.data.example import Example
from ptlab.data.sources import load_split
from ptlab.errors import ConfigError, DataError, NotApplicable
from ptlab.config.task import CarvedValidation, TaskConfig

from cli import ptlab_ok, run_dirs

TASKS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "conf" / "task").glob("*.yaml"))


@pytest.fixture(scope="session")
def data_dir(full_data_dir):
    """These tests are of the shipped tasks' real splits: all of SST-2's training file."""
    return full_data_dir


def _read(compose_run, *overrides):
    data = TaskDataModule(compose_run(*overrides))
    data.read()
    return data


def _key(ex: Example) -> str:
    return json.dumps(ex.fields, sort_keys=True, default=str)


def _read_task(compose_run, task: str, *overrides: str) -> TaskDataModule:
    try:
        return _read(compose_run, "model=tiny-llama", "method=full_finetune", f"task={task}", *overrides)
    except NotApplicable:  # token classification: an encoder's task
        return _read(compose_run, "model=tiny-bert", "method=full_finetune", f"task={task}", *overrides)


def _overlapping(validation, pool, texts) -> set:
    """Pool rows with a text that contains, or is contained in, a validation text: plain substring
    search over newline-joined normalised texts (each starts and ends with a space, none holds a
    newline, so a match never spans two texts), independent of the automata carve.py uses."""
    probes = sorted({t for ex in validation for t in map(normalise, texts(ex)) if t})
    items = [(row, t) for row, ex in enumerate(pool) for t in map(normalise, texts(ex)) if t]
    joined_probes, joined_items = "\n".join(probes), "\n".join(t for _, t in items)
    starts = [0]
    for _, t in items[:-1]:
        starts.append(starts[-1] + len(t) + 1)
    hit = {row for row, t in items if t in joined_probes}
    for probe in probes:
        at = joined_items.find(probe)
        while at != -1:
            hit.add(items[bisect.bisect_right(starts, at) - 1][0])
            at = joined_items.find(probe, at + 1)
    return hit


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS)
def test_each_shipped_task_selects_on_a_split_that_shares_no_example_with_the_reported_one(compose_run, task):
    data = _read_task(compose_run, task)
    assert set(data.raw) == {"train", "validation", "test"}, f"{task} must declare a test split to report"
    train, val, test = ({_key(ex) for ex in data.raw[s]} for s in ("train", "validation", "test"))
    assert not val & test, f"{task}: {len(val & test)} validation inputs are also in test"
    assert not train & test, f"{task}: {len(train & test)} training inputs are also in test"
    if data.run.task.validation_from_train:  # an official dev set may share inputs with train (CoNLL's)
        assert not val & train, f"{task}: {len(val & train)} carved inputs are also in the training pool"
    assert data.origins["validation"] != data.origins["test"]


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS)
def test_each_shipped_task_reports_its_selection_splits_overlap_with_the_pool_none_where_carved(compose_run, task):
    data = _read_task(compose_run, task)
    task_config, stats = data.run.task, data.selection
    found = _overlapping(data.raw["validation"], data.raw["train"], texts_of(task_config))
    assert stats["residual_overlap"] == len(found), f"{task}: the record must count what is there"
    if task_config.validation_from_train:  # carved by ptlab: nothing of the pool overlaps it
        assert not found, f"{task}: {len(found)} pool examples overlap the carved validation set"
        assert stats["pool_dropped_as_overlapping"] >= 0 and stats["content_disjoint"].startswith("enforced")
    else:  # a declared split is the dataset's own; ptlab only measures (CoNLL's dev holds "." lines)
        assert stats["content_disjoint"].startswith("measured only")
    for split in ("validation", "test"):
        words = [sum(len(t.split()) for t in texts_of(task_config)(ex)) for ex in data.raw[split]]
        assert stats["words"][split] == {"mean": round(statistics.fmean(words), 2), "median": statistics.median(words)}


@pytest.mark.slow
def test_sst2_selects_on_whole_sentences_as_long_as_dev_not_on_their_phrases(compose_run):
    """SST-2's train holds every phrase of its sentences; dev holds sentences. Tolerance: the
    carved validation set's mean and median words within 10 % of dev's (measured: 19.75 and 19
    against 19.55 and 19). Drawn from all training texts instead, it is half as long (9.4 words)."""
    data = _read_task(compose_run, "sst2")
    words = {s: [len(ex.fields["text"].split()) for ex in data.raw[s]] for s in ("validation", "test")}
    for stat in (statistics.fmean, statistics.median):
        assert abs(stat(words["validation"]) / stat(words["test"]) - 1) <= 0.10, stat.__name__
    dropped = data.selection["pool_dropped_as_overlapping"]
    assert len(data.raw["train"]) + 872 + dropped == 67349 - data.dropped["train"] and dropped > 1000
    phrases = _read_task(compose_run, "sst2", "task.validation_from_train.whole_only=false")
    assert statistics.fmean(
        len(ex.fields["text"].split()) for ex in phrases.raw["validation"]
    ) < 0.6 * statistics.fmean(words["test"])


@pytest.mark.slow
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
    full = _read(  # drawn from all of train, so the class mix to keep is train's
        compose_run, "model=tiny-bert", "method=full_finetune", "task.validation_from_train.whole_only=false"
    )
    train = load_split(full.run.task, "train", "local", Path(full.run.paths.data_dir))
    share = sum(ex.label for ex in train) / len(train)
    assert abs(sum(ex.label for ex in full.raw["validation"]) - 872 * share) <= 1  # 55.8 % positive, to one example
    for data in reads[:2]:  # few-shot draws come from the pool only
        assert not {_key(ex) for ex in data.raw["train"]} & set(carved[0])


def _fields(ex: Example):
    return list(ex.fields.values())


def test_repeated_inputs_stay_on_one_side_and_sizes_are_exact():
    examples = [Example({"text": f"s{i % 50}"}, label=i % 2) for i in range(200)]  # each text 4 times
    examples += [Example({"text": f"u{i}"}, label=i % 2) for i in range(100)]
    cut = carve(examples, CarvedValidation(60, seed=7), "x", _fields)
    assert len(cut.validation) == 60 and len(cut.pool) == 240  # "s1" is no part of "s10": whole words
    assert not {_key(e) for e in cut.validation} & {_key(e) for e in cut.pool}
    assert Counter(e.label for e in cut.validation) == {0: 30, 1: 30}
    again, other = (carve(examples, CarvedValidation(60, seed), "x", _fields).validation for seed in (7, 8))
    assert again == cut.validation != other
    with pytest.raises(DataError, match=r"validation_from_train.size=300 leaves no training examples"):
        carve(examples, CarvedValidation(300), "x", _fields)


SENTENCES = [f"The {w} film , it's {w}  Fun ." for w in ("first", "second", "third", "fourth", "fifth", "sixth")]


def _treebank() -> list:
    """SST-2 in small: each sentence, and two of its phrases as examples of their own (spelled as
    GLUE's tokenized, lowercased text), and one text that shares only a word's prefix."""
    examples = []
    for i, sentence in enumerate(SENTENCES):
        word = sentence.split()[1]
        examples += [Example({"text": sentence}, label=i % 2), Example({"text": f"it 's {word} fun"}, label=i % 2)]
        examples.append(Example({"text": f"the {word}"}, label=i % 2))
    return examples + [Example({"text": "the firstly"}, label=0), Example({"text": "unrelated words"}, label=1)]


def test_a_carve_drops_from_the_pool_every_phrase_of_a_validation_sentence_after_normalisation(tmp_path):
    examples = _treebank()
    phrases = carve(examples, CarvedValidation(2, seed=3), "x", _fields, cache=tmp_path)
    whole = carve(examples, CarvedValidation(2, seed=3, whole_only=True), "x", _fields, cache=tmp_path)
    assert phrases.stats["drawn_from"] == "all examples"
    assert set(_texts(whole.validation)) <= {*SENTENCES, "the firstly", "unrelated words"}  # no phrase
    assert len(whole.validation) == 2 and whole.stats["drawn_from"] == "8 whole of 20 examples"
    for cut in (phrases, whole):  # nothing of the pool contains or is contained in a validation text
        assert not _overlapping(cut.validation, cut.pool, _fields) and cut.stats["residual_overlap"] == 0
        kept = len(cut.pool) + len(cut.validation) + cut.stats["pool_dropped_as_overlapping"]
        assert kept == len(examples)
    # A validation sentence takes its two phrases out of the pool (case, spacing, "it's" and
    # "it 's" aside); "the firstly" shares a word's prefix, not a word, and is never dropped.
    sentences = [t for t in _texts(whole.validation) if t in SENTENCES]
    assert sentences and whole.stats["pool_dropped_as_overlapping"] == 2 * len(sentences)
    assert "the firstly" in _texts(whole.pool + whole.validation)
    assert whole.stats["content_disjoint"].startswith("enforced")


def _texts(examples) -> list:
    return [ex.fields["text"] for ex in examples]


def test_a_category_field_is_left_out_of_the_overlap_or_it_would_empty_the_pool(tmp_path):
    examples = [Example({"premise": f"premise {i}", "question": "cause"}, label=i % 2) for i in range(20)]
    with pytest.raises(DataError, match="every training example of x overlaps the validation set"):
        carve(examples, CarvedValidation(5), "x", _fields)
    task = TaskConfig(
        name="t",
        kind="classification",
        template="{premise} {question}",
        columns={"premise": "premise", "question": "question", "label": "label"},
        metrics=["accuracy"],
        main_metric="accuracy",
        validation_from_train=CarvedValidation(5, ignore=["question"]),
    )
    cut = carve(examples, task.validation_from_train, "x", texts_of(task))
    assert len(cut.pool) == 15 and cut.stats["pool_dropped_as_overlapping"] == 0


def test_a_damaged_cached_carve_is_computed_again_the_same(tmp_path):
    examples, spec = _treebank(), CarvedValidation(3, seed=1, whole_only=True)
    first = carve(examples, spec, "x", _fields, cache=tmp_path)
    (entry,) = tmp_path.glob("*.json")
    for damage in ("{", json.dumps({**json.loads(entry.read_text()), "validation": [0, 0, 99]})):
        entry.write_text(damage)
        again = carve(examples, spec, "x", _fields, cache=tmp_path)
        assert (again.validation, again.pool, again.stats) == (first.validation, first.pool, first.stats)
        assert len(set(json.loads(entry.read_text())["validation"])) == 3  # rewritten whole


def test_a_carve_beside_a_declared_validation_split_is_a_config_error(compose_run):
    with pytest.raises(ConfigError, match="also declares a validation split"):
        compose_run("task=conll2003", "+task.validation_from_train={size: 10}")
    with pytest.raises(ConfigError, match="validation_from_train.size"):
        compose_run("task=sst2", "task.validation_from_train.size=0")
    with pytest.raises(ConfigError, match=r"validation_from_train.ignore: 'kind' is not a key of task.columns"):
        compose_run("task=copa", "task.validation_from_train.ignore=[kind]")


@pytest.mark.slow
def test_a_run_records_which_split_selected_and_which_was_reported(tmp_path, cli_cache):
    log_dir = tmp_path / "runs"
    ptlab_ok("model=tiny-bert", "method=full_finetune", "task=rte", "debug=smoke", log_dir=log_dir, cache=cli_cache)
    (run,) = run_dirs(log_dir)
    record = json.loads((run / "results.json").read_text())
    assert record["splits"]["selected_on"] == "validation" and record["splits"]["reported"] == "test"
    assert record["splits"]["from"]["test"].endswith("rte/val.jsonl")
    assert "277 examples carved from train" in record["splits"]["from"]["validation"]
    selection = record["splits"]["selection_data"]  # RTE's train repeats hypotheses across premises
    assert selection["residual_overlap"] == 0 and selection["pool_dropped_as_overlapping"] > 0
    assert set(selection["words"]) == {"validation", "test"}
    assert record["data"] == {"train": 16, "validation": 16, "test": 8}
    assert set(record["metrics"]["test"]) >= {"accuracy"}


def test_a_carved_task_without_a_test_split_reads_for_a_method_that_trains_nothing(compose_run):
    data = _read(compose_run, "model=tiny-llama", "method=zero_shot", "~task.local.files.test", "~task.hub.splits.test")
    assert set(data.raw) == {"validation"} and len(data.raw["validation"]) == 872 and data.dropped == {}
