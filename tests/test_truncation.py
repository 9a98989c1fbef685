"""Over-long prompts are never cut silently (real `ptlab-train` processes, tiny-llama, a
constructed SQuAD file whose contexts are longer than max_source_length).

The test articles: A's answer opens its context, B's closes it, C fits whole. An LM keeps a
prompt's end, so A's answer is lost; `task.truncate_field=context` cuts the context's end
instead, so the question and the answer cue stay whole and B's answer is the one lost.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli import record, run_dirs
from test_bad_input import CONFIG_TIMEOUT, error_line, ptlab

FILLER = " ".join(f"word{i}" for i in range(120))  # ~250 tokens: far past max_source_length=64
ARTICLES = [(f"pool{i}", "The sky is blue.", "What colour is the sky?", "blue") for i in range(12)] + [
    ("A", f"Zanzibar harbour opened first. {FILLER}", "What opened first?", "Zanzibar harbour"),
    ("B", f"{FILLER} The answer is Quixotic Mountain.", "What is the answer?", "Quixotic Mountain"),
    ("C", "Short text about Marrakesh.", "Which city?", "Marrakesh"),
]
RUN = ["model=tiny-llama", "method=zero_shot", "task=squad", "debug=smoke", "task.max_source_length=64"]
RUN += ["task.max_target_length=2"]
NER = ["model=tiny-bert", "method=full_finetune", "task=conll2003", "debug=smoke"]


def squad_dir(root: Path) -> Path:
    """<root>/squad_v1.1/dev-v1.1.json with ARTICLES in order: squad.yaml carves articles 0-9 as
    the training pool, 10-11 as validation, 12 on (A, B, C) as the test split."""
    data = [
        {
            "title": title,
            "paragraphs": [
                {
                    "context": context,
                    "qas": [{"id": title, "question": q, "answers": [{"text": a, "answer_start": context.index(a)}]}],
                }
            ],
        }
        for title, context, q, a in ARTICLES
    ]
    (root / "squad_v1.1").mkdir(parents=True)
    (root / "squad_v1.1" / "dev-v1.1.json").write_text(json.dumps({"version": "1.1", "data": data}))
    return root


def _run(tmp_path: Path, cli_cache: Path, *overrides: str):
    log_dir = tmp_path / "runs"
    proc = ptlab(*RUN, *overrides, log_dir=log_dir, cache=cli_cache, data_dir=squad_dir(tmp_path / "data"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = run_dirs(log_dir)
    prompts = {
        json.loads(line)["references"][0]: json.loads(line)["prompt"]
        for line in (run_dir / "predictions_test.jsonl").open()
    }
    return proc, record(run_dir), prompts


@pytest.mark.slow
def test_cut_prompts_and_lost_answers_are_counted_and_said_once(tmp_path, cli_cache):
    proc, rec, prompts = _run(tmp_path, cli_cache)
    assert rec["truncation"]["test"] == {"prompts": 3, "truncated": 2, "answers_lost": 1}
    assert rec["truncation"]["validation"] == {"prompts": 2, "truncated": 0, "answers_lost": 0}
    notes = [line for line in proc.stderr.splitlines() if "were cut" in line]
    assert notes == [
        "ptlab: note: prompts longer than task.max_source_length=64 tokens were cut: test 2 of 3 (answer lost in 1); "
        "LMs drop a prompt's start, encoders its end; task.truncate_field=<field> cuts one field instead "
        "(results.json: truncation)"
    ]
    assert prompts["Marrakesh"].startswith("Context: Short text")  # the recorded prompt is what the model read


@pytest.mark.slow
def test_truncate_field_cuts_the_context_and_keeps_the_question_and_cue(tmp_path, cli_cache):
    proc, rec, prompts = _run(tmp_path, cli_cache, "task.truncate_field=context")
    assert rec["truncation"]["test"] == {"prompts": 3, "truncated": 2, "answers_lost": 1}
    kept = prompts["Zanzibar harbour"]
    assert kept.startswith("Context: Zanzibar harbour opened first.") and kept.endswith(
        "\nQuestion: What opened first?\nAnswer:"
    )
    assert "Quixotic" not in prompts["Quixotic Mountain"]  # B's context lost its end, and the answer with it
    assert "task.truncate_field=context was cut from its end" in proc.stderr


def test_truncate_field_must_be_a_field_of_the_template(tmp_path, cli_cache):
    proc = ptlab(*RUN, "task.truncate_field=title", log_dir=tmp_path / "runs", cache=cli_cache, timeout=CONFIG_TIMEOUT)
    line = error_line(proc)
    assert "task.truncate_field='title' is not a field of the template" in line and "'context'" in line


def test_words_an_encoder_cuts_off_count_and_an_entity_among_them_is_a_lost_answer(compose_run):
    """Token classification tokenizes its words itself: a sentence longer than max_source_length
    loses its last words (scored as O), counted as cut, and as a lost answer when one of them
    carried an entity tag."""
    from ptlab.run.build import build_data

    whole = build_data(compose_run(*NER)).truncation["test"]
    assert whole == {"prompts": 8, "truncated": 0, "answers_lost": 0}
    short = build_data(compose_run(*NER, "task.max_source_length=6")).truncation["test"]
    assert short["prompts"] == 8 and 0 < short["answers_lost"] <= short["truncated"] <= 8
