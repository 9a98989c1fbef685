"""Multiple choice with the options in the prompt (ptlab/kinds/choice_options.py), through the real
CLI: COPA's `options` template lists the choices as "A. ..."/"B. ..." and scores " A"/" B" (the
prompts and scored continuations in the predictions file), with the same per-choice
log-likelihoods as lm-eval 0.4.13 given its mmlu default template's framing on the same examples;
a bad label scheme is one error line naming its key (config time) or the example's file and line
(data time, where a list column's length shows only in the data)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cli import REAL_DATA, ptlab_ok
from test_bad_input import CONFIG_TIMEOUT, error_line, ptlab, run_dir_of
from test_bad_templates import config_error
from test_task_yaml import write

REPO = Path(__file__).resolve().parents[1]
COPA = REPO / "conf" / "task" / "copa.yaml"
needs_copa = pytest.mark.skipif(not (REAL_DATA / "copa").is_dir(), reason=f"COPA not found at {REAL_DATA}")


@pytest.mark.parametrize(
    "overrides, said",
    [
        (
            ["task=copa", "task.template=options", "task.templates.options.option_labels=[A]"],
            "task.templates.options.option_labels (set on the command line): [A] labels 1 option, but "
            "task.choices names 2 choice columns",
        ),
        (
            ["task=copa", "task.template=options", "task.templates.options.option_labels=roman"],
            "task.templates.options.option_labels (set on the command line): 'roman' is not a label scheme",
        ),
        (
            ["task=copa", "task.templates.options.option_labels=[A,A]"],  # an unselected template is checked too
            "task.templates.options.option_labels (set on the command line): [A, A] repeats a label",
        ),
        (
            ["task=copa", "task.template=options", "task.templates.options.option_labels=null"],
            f"task.templates.options.text (in {COPA}) lists {{options}}, but task.templates.options.option_labels "
            f"is not set",
        ),
        (
            ["task=copa", "+task.templates.connective.option_labels=letters"],
            "task.templates.connective.option_labels (set on the command line) labels options that "
            "task.templates.connective.text never lists: put {options} in it",
        ),
        (
            ["task=copa", "task.choice_template=' {label}'"],
            "task.choice_template (set on the command line) scores {label} after task.templates.connective.text, "
            "but task.templates.connective.option_labels is not set",
        ),
        (  # a classification template has no options to label: its schema has no such key
            ["task=rte", "+task.templates.follows.option_labels=letters"],
            "unknown key task.templates.follows.option_labels",
        ),
    ],
    ids=[
        "scheme-too-short",
        "unknown-scheme",
        "repeated-label",
        "options-unlabelled",
        "labels-unlisted",
        "label-unlabelled",
        "classification",
    ],
)
def test_a_bad_label_scheme_is_one_config_error_naming_the_key(overrides, said, tmp_path):
    line = config_error(tmp_path, *overrides)
    assert said in line, line


COPA_ROW = {"premise": "The sun rose.", "choice1": "The grass glowed.", "choice2": "Birds sang.", "question": "effect"}


@pytest.mark.parametrize(
    "overrides, prompt, continuations",
    [
        (
            ["task.template=options"],
            "The sun rose.\nWhat was the effect?\nA. The grass glowed.\nB. Birds sang.\nAnswer:",
            [" A", " B"],
        ),
        (
            ["task.template=options", "task.templates.options.option_labels=numbers"],
            "The sun rose.\nWhat was the effect?\n1. The grass glowed.\n2. Birds sang.\nAnswer:",
            [" 1", " 2"],
        ),
        (  # a template of its own choice_template: lm-eval's double space, only where it is selected
            ["+task.templates.connective.choice_template='  {choice}'"],
            "The sun rose therefore",
            ["  the grass glowed.", "  birds sang."],
        ),
        (
            ["task.template=question"],
            "Premise: The sun rose.\nWhat was the effect? The effect was that",
            [" the grass glowed.", " birds sang."],
        ),
    ],
    ids=["letters", "numbers", "own-choice-template", "task-choice-template"],
)
def test_the_selected_template_frames_the_prompt_and_what_is_scored(compose_run, overrides, prompt, continuations):
    from ptlab.kinds import kind_of

    run = compose_run("task=copa", "model=tiny-llama", "method=zero_shot", *overrides)
    kind = kind_of(run.task)
    ex = kind.example({**COPA_ROW, "label": 1}, "copa:1")
    assert run.task.selected.text.format(**ex.fields) == prompt
    assert kind.continuations(ex) == continuations
    assert kind.answer_text(ex) == kind.continuations(ex)[1]


def test_in_context_demonstrations_answer_with_the_gold_label(compose_run):
    from ptlab.run.build import build_run

    _, module = build_run(
        compose_run("model=tiny-llama", "method=in_context", "task=copa", "task.template=options", "data.k=2")
    )
    demos = module.method.demonstrations
    text = module.method.context_text(module.reader, demos)
    assert text == "".join(
        f"{d.fields['premise']}\nWhat was the {d.fields['question']}?\nA. {d.choices[0]}\nB. {d.choices[1]}\n"
        f"Answer: {'AB'[d.label]}\n\n"
        for d in demos
    )


LISTED_TASK = """\
name: listed
kind: multiple_choice
local: {dir: listed, format: jsonl, files: {train: train.jsonl, test: test.jsonl}}
validation_from_train: {size: 1}
columns: {question: question, choices: options, label: answer}
choices: [choices]
label_values: {A: 0, B: 1, C: 2, D: 3}
template: abc
templates:
  abc: {text: "Question: {question}\\n{options}\\nAnswer:", option_labels: [A, B, C], choice_template: " {label}"}
metrics: [accuracy]
main_metric: accuracy
"""


@pytest.mark.slow
def test_more_choices_than_labels_in_the_data_names_file_and_line(tmp_path):
    """A list column's choices are counted only when read: the 4-choice row is the error, by file:line."""
    rows = [{"question": f"q{i}", "options": ["x", "y", "z"], "answer": "A"} for i in range(4)]
    rows[2]["options"].append("w")
    data = tmp_path / "data" / "listed"
    write(data / "train.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    write(data / "test.jsonl", "".join(json.dumps(r) + "\n" for r in rows[:2]))
    write(tmp_path / "conf" / "task" / "listed.yaml", LISTED_TASK)
    proc = ptlab(
        f"--config-dir={tmp_path / 'conf'}",
        "task=listed",
        "model=tiny-llama",
        "method=zero_shot",
        log_dir=tmp_path / "runs",
        cache=tmp_path / "cache",
        data_dir=tmp_path / "data",
        timeout=CONFIG_TIMEOUT,
    )
    line = error_line(proc)
    assert f"{data / 'train.jsonl'}:3: 4 choices, but task.templates.abc.option_labels=[A, B, C] labels only 3" in line


def _copa_head(tmp_path: Path, n: int) -> Path:
    """A data dir whose COPA test file (val.jsonl) is the real one's first `n` lines, beside the real train."""
    copa = tmp_path / "data" / "copa"
    copa.mkdir(parents=True)
    lines = (REAL_DATA / "copa" / "val.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (copa / "val.jsonl").write_text("".join(lines[:n]), encoding="utf-8")
    (copa / "train.jsonl").symlink_to(REAL_DATA / "copa" / "train.jsonl")
    return tmp_path / "data"


def _lm_eval_task(tasks: Path, data: Path) -> str:
    """COPA under lm-eval's mmlu default template: the options lettered, " A"/" B" scored (its
    target_delimiter " "), the choices as written."""
    task = {
        "task": "copa_options",
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"validation": str(data / "copa" / "val.jsonl")}},
        "validation_split": "validation",
        "output_type": "multiple_choice",
        "doc_to_text": "{{premise}}\nWhat was the {{question}}?\nA. {{choice1}}\nB. {{choice2}}\nAnswer:",
        "doc_to_choice": ["A", "B"],
        "doc_to_target": "label",
        "metric_list": [{"metric": "acc"}],
    }
    write(tasks / "copa_options.yaml", yaml.safe_dump(task, allow_unicode=True))
    return task["task"]


@pytest.mark.slow
@needs_copa
def test_copa_options_template_scores_the_letters_as_lm_eval_does(compose_run, shared_cache, tmp_path, cli_cache):
    pytest.importorskip("lm_eval")
    import torch

    from ptlab.kinds import Head
    from ptlab.models.loading import load_model, load_tokenizer

    sys.path.insert(0, str(REPO / "benchmarks"))
    import lm_eval_parity

    run = compose_run("model=tiny-llama", "method=zero_shot")
    torch.manual_seed(0)
    folder = tmp_path / "tiny-llama"
    load_model(run.model, shared_cache, Head.causal_lm).save_pretrained(folder)
    load_tokenizer(run.model, shared_cache).save_pretrained(folder)
    data = _copa_head(tmp_path, 6)

    log_dir = tmp_path / "runs"
    proc = ptlab_ok(
        "model=tiny-llama",
        f"model.pretrained={folder}",
        "model.package=null",
        "model.gguf_file=null",
        "model.random_config=null",
        "method=zero_shot",
        "task=copa",
        "task.template=options",
        "data.eval_limit=1",
        f"paths.data_dir={data}",
        log_dir=log_dir,
        cache=cli_cache,
    )
    predictions = run_dir_of(proc) / "predictions_test.jsonl"
    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    copa = [json.loads(line) for line in (data / "copa" / "val.jsonl").read_text().splitlines()]
    assert [r["prompt"] for r in rows] == [
        f"{c['premise']}\nWhat was the {c['question']}?\nA. {c['choice1']}\nB. {c['choice2']}\nAnswer:" for c in copa
    ]
    assert all(r["continuations"] == [" A", " B"] for r in rows)
    assert [r["gold"] for r in rows] == [c["label"] for c in copa]

    out = tmp_path / "lm_eval.json"
    job = {"model_dir": str(folder), "tasks": str(tmp_path / "tasks"), "task": _lm_eval_task(tmp_path / "tasks", data)}
    subprocess.run(
        [
            sys.executable,
            lm_eval_parity.__file__,
            "--lm-eval-worker",
            json.dumps({**job, "batch": 4}),
            "--out",
            str(out),
        ],
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_CACHE": str(tmp_path / "hf")},
        check=True,
        capture_output=True,
    )
    lm = json.loads(out.read_text())
    assert lm["prompts"] == [r["prompt"] for r in rows] and lm["gold"] == [r["gold"] for r in rows]
    diffs = [abs(a - b) for r, theirs in zip(rows, lm["logliks"]) for a, b in zip(r["scores"], theirs)]
    print(f"largest |log-likelihood difference| over {len(diffs)} (example, letter) pairs: {max(diffs):.2e}")
    assert len(diffs) == 12 and max(diffs) <= 1e-4, (rows, lm["logliks"])
