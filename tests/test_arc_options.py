"""Per-example choice labels from the data (`task.columns.choice_labels`) meet a template that lists
the options (`{options}`): an ARC question labelled "1"-"4" is listed and scored under 1-4, one
labelled "A"-"E" under A-E, the answer key naming the gold among them; a template's own
`option_labels` relabels every question alike. The ARC fixture is tests/test_declared_data.py's."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest
import yaml

from ptlab.data.sources import load_split
from ptlab.errors import ConfigError
from test_declared_data import ARC, ARC_GOLD, ARC_TASK, arc_data, arc_predictions, arc_task

LISTED = "Question: {question}\n{options}\nAnswer:"


def _prompt(stem, choices, marks) -> str:
    return f"Question: {stem}\n" + "".join(f"{m}. {text}\n" for m, (_, text) in zip(marks, choices)) + "Answer:"


@pytest.mark.slow
def test_arc_options_are_listed_and_scored_under_each_questions_own_labels(tmp_path, cli_cache):
    task = yaml.safe_load(ARC_TASK.format(name="arc_listed"))
    task.update(template=LISTED, choice_template=" {label}")  # no option_labels: the data's labels
    rows = arc_predictions(tmp_path, cli_cache, "arc_listed", yaml.safe_dump(task, sort_keys=False))
    by_prompt = {row["prompt"]: row for row in rows}  # evaluation batches are length-sorted
    assert len(by_prompt) == len(ARC)
    for (stem, choices, _), gold in zip(ARC, ARC_GOLD):
        marks = [mark for mark, _ in choices]  # "A".."E" or "1".."4", as this question has them
        row = by_prompt[_prompt(stem, choices, marks)]
        assert row["continuations"] == [f" {m}" for m in marks] and row["gold"] == gold
        assert len(row["scores"]) == len(choices)


def test_a_templates_option_labels_relabel_every_question_alike(tmp_path):
    listed = {"text": LISTED, "option_labels": "letters", "choice_template": " {label}"}
    examples = load_split(
        arc_task(template="listed", templates={"listed": listed}), "validation", "local", arc_data(tmp_path)
    )
    assert [ex.choice_labels for ex in examples] == [list("ABCDE"[: len(choices)]) for _, choices, _ in ARC]
    assert [ex.label for ex in examples] == ARC_GOLD  # the answer key still names the gold among the data's labels
    stem, choices, _ = ARC[1]
    assert f"Question: {examples[1].fields['question']}\n{examples[1].fields['options']}\nAnswer:" == _prompt(
        stem, choices, "ABCD"
    )


def test_label_scored_but_options_never_listed_is_a_config_error():
    with pytest.raises(ConfigError, match=r"scores \{label\} after task.template, which never lists"):
        arc_task(choice_template=" {label}")
