"""NER on LMs (issue 24, item 4): token_classification tasks framed as generated "TYPE: span" text for
causal and seq2seq LMs, parsed back to IOB2 and scored by the encoder path's seqeval metrics; the
kind picks the framing by the model's head, so one `task=conll2003` covers encoders and LMs."""

from __future__ import annotations

import json

import pytest

from cli import ptlab_ok, record, run_dirs
from ptlab.run.build import build_data
from ptlab.errors import ConfigError
from ptlab.kinds import Head
from ptlab.kinds.entity_generation import entities_text, parse_entities

TYPES = ["PER", "ORG", "LOC", "MISC"]
WORDS = "John Smith met John in New York and John".split()
TINY = ("data.eval_limit=3", "data.test_limit=3", "task.max_target_length=8", "data.eval_batch_size=3")


# --- the target text and its parser ---
def test_type_span_items_become_exact_iob2():
    tags, bad = parse_entities("PER: John Smith; LOC: New York", WORDS, TYPES)
    assert tags == ["B-PER", "I-PER", "O", "O", "O", "B-LOC", "I-LOC", "O", "O"] and bad == 0


def test_adjacent_entities_of_one_type_stay_two():
    assert parse_entities("LOC: Paris; LOC: London", ["Paris", "London"], TYPES) == (["B-LOC", "B-LOC"], 0)


def test_a_repeated_span_takes_the_next_free_occurrence_and_one_too_many_is_unparseable():
    tags, bad = parse_entities("PER: John; PER: John; PER: John; PER: John", ["John", "and", "John", "."], TYPES)
    assert tags == ["B-PER", "O", "B-PER", "O"] and bad == 2
    tags, bad = parse_entities("PER: John Smith; PER: John", WORDS, TYPES)  # "John" is then the second one
    assert tags[:4] == ["B-PER", "I-PER", "O", "B-PER"] and bad == 0


@pytest.mark.parametrize(
    "text,bad",
    [
        ("PER: Jane Doe", 1),  # not in the sentence
        ("PERSON: John Smith", 1),  # a type not in the tag set
        ("John Smith", 1),  # no "type: span" shape
        ("PER: ", 1),  # no span
        ("PER: Smith John; LOC: New York; FOO: John", 2),  # words out of order; unknown type
        ("", 1),  # nothing generated
        ("none", 0),
        ("None.", 0),
    ],
)
def test_unparseable_items_add_no_entity_and_are_counted(text, bad):
    tags, counted = parse_entities(text, WORDS, TYPES)
    assert counted == bad
    assert tags == (["O"] * 5 + ["B-LOC", "I-LOC", "O", "O"] if "New York" in text else ["O"] * len(WORDS))


def test_types_are_read_whatever_their_case():
    assert parse_entities("per: John Smith", WORDS, TYPES)[0][:2] == ["B-PER", "I-PER"]


def test_every_real_conll_test_sentence_round_trips_through_its_target_text(data_dir):
    """The gold target, parsed back, is the gold IOB2 exactly, for all 3,453 test sentences."""
    sentences, words, tags = [], [], []
    for line in (data_dir / "conll2003" / "test.txt").read_text().splitlines() + [""]:
        parts = line.split()
        if (not parts or parts[0] == "-DOCSTART-") and words:
            sentences.append((words, tags))
            words, tags = [], []
        elif parts and parts[0] != "-DOCSTART-":
            words, tags = words + [parts[0]], tags + [parts[3]]
    assert len(sentences) == 3453
    assert entities_text(*sentences[0]) == "LOC: JAPAN; PER: CHINA"
    assert all(parse_entities(entities_text(w, t), w, TYPES) == (t, 0) for w, t in sentences)


# --- the framing is picked by the head ---
@pytest.mark.slow
def test_an_encoder_reads_the_words_with_its_token_head_and_an_lm_the_lm_template(compose_run):
    encoder = compose_run("model=tiny-bert", "method=full_finetune", "task=conll2003", "trainer.max_steps=1")
    assert encoder.task.template == "{tokens}" and "unparseable" not in encoder.task.metrics
    assert build_data(encoder).reader.head == Head.token_classification
    lm = compose_run("model=tiny-llama", "method=zero_shot", "task=conll2003")
    assert lm.task.template == lm.task.lm_template and lm.task.selected.text.endswith("\nEntities:")
    assert {"entity_f1", "unparseable", "unparseable_predictions"} <= set(lm.task.metrics)


def test_in_context_demonstrations_answer_with_the_gold_entity_list(compose_run):
    run = compose_run("model=tiny-llama", "method=in_context", "task=conll2003", "data.k=4", *TINY)
    data = build_data(run)
    context = data.method.context_text(data.reader, data.method.demonstrations)
    for ex in data.method.demonstrations:
        gold = entities_text(ex.tokens, [run.task.tags[t] for t in ex.tags])
        assert f"Sentence: {' '.join(ex.tokens)}\nEntities: {gold}\n\n" in context


def test_an_lm_template_is_checked_like_any_template(compose_run):
    with pytest.raises(ConfigError, match=r"task.lm_template.* uses \{sentence\}, which is not a template field"):
        compose_run("model=tiny-llama", "method=zero_shot", "task=conll2003", "task.lm_template='{sentence}'")


# --- through the CLI ---
@pytest.mark.slow
@pytest.mark.parametrize(
    "model,method",
    [
        ("tiny-llama", ("method=zero_shot",)),
        ("tiny-llama", ("method=lora", "data.k=4", "trainer.max_steps=2")),
        ("tiny-t5", ("method=zero_shot",)),
        ("tiny-t5", ("method=full_finetune", "data.k=4", "trainer.max_steps=2")),
    ],
)
def test_lms_write_entities_scored_by_seqeval_with_the_unparseable_counted(tmp_path, cli_cache, model, method):
    ptlab_ok(f"model={model}", *method, "task=conll2003", *TINY, log_dir=tmp_path / "runs", cache=cli_cache)
    (run_dir,) = run_dirs(tmp_path / "runs")
    results = record(run_dir)
    test = results["metrics"]["test"]
    assert results["status"] == "completed" and results["main_metric"] == "entity_f1"
    assert 0 <= test["entity_f1"] <= 1 and {f"entity_f1_{t}" for t in TYPES} <= set(test)
    rows = [json.loads(line) for line in (run_dir / "predictions_test.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(len(r["tokens"]) == len(r["gold"]) == len(r["predicted"]) for r in rows)
    # A random tiny model writes no "type: span" the sentence has: each row's text is kept, and counted.
    assert all(isinstance(r["generated"], str) and r["unparseable"] >= 1 for r in rows)
    assert test["unparseable_predictions"] == 3 and test["unparseable"] == sum(r["unparseable"] for r in rows)
    assert all(r["predicted"] == parse_entities(r["generated"], r["tokens"], TYPES)[0] for r in rows)


@pytest.mark.slow
def test_an_encoder_on_the_same_task_still_tags_each_word(tmp_path, cli_cache):
    ptlab_ok("model=tiny-bert", "method=full_finetune", "task=conll2003", "data.k=4", "trainer.max_steps=2",
             *TINY, log_dir=tmp_path / "runs", cache=cli_cache)  # fmt: skip
    (run_dir,) = run_dirs(tmp_path / "runs")
    test = record(run_dir)["metrics"]["test"]
    assert "entity_f1" in test and "unparseable" not in test
    row = json.loads((run_dir / "predictions_test.jsonl").read_text().splitlines()[0])
    assert "generated" not in row and len(row["predicted"]) == len(row["tokens"])
