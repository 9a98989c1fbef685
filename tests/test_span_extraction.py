"""The span_extraction kind (extractive QA on encoders): windows over a constructed long context
whose answer sits in the last window (found by the windowed decoding, counted as kept; cut and
counted as lost without windows), every trained method on tiny-bert, MiniLM through the CLI, n/a
on LMs, and a stride that would not advance refused before anything loads."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from cli import ptlab_cmd, ptlab_env, ptlab_ok, record, run_dirs
from ptlab.run.build import build_run
from ptlab.errors import ConfigError, NotApplicable
from ptlab.kinds import kind_of
from ptlab.models import prompt_fit
from ptlab.models.families import make_reader
from ptlab.models.loading import load_tokenizer
from training import eval_loss, fit

TASK = ("task=squad_span", "data.eval_limit=8", "data.test_limit=8")
WINDOW = ("task.max_source_length=64", "task.doc_stride=16")  # ~10 windows over the long context
QUESTION = "What is the secret code?"


def long_context(answer: str) -> str:
    """~400 tokens of filler, then the sentence holding the answer: only the last window has it."""
    filler = " ".join(f"Sentence number {i} talks about nothing in particular." for i in range(40))
    return f"{filler} The secret code is {answer}."


def squad_file(folder: Path, answers: list) -> Path:
    """A SQuAD v1.1 file, one article per answer (one question on a long context each)."""
    data = []
    for i, answer in enumerate(answers):
        context = long_context(answer)
        answers_ = [{"text": answer, "answer_start": context.rindex(answer)}]
        qa = {"id": f"q{i}", "question": QUESTION, "answers": answers_}
        data.append({"title": f"article {i}", "paragraphs": [{"context": context, "qas": [qa]}]})
    (folder / "squad_v1.1").mkdir(parents=True)
    path = folder / "squad_v1.1" / "dev-v1.1.json"
    path.write_text(json.dumps({"data": data}))
    return path


class PointsAt(torch.nn.Module):
    """Stands in for a trained head: start and end logits peak wherever the input has one token."""

    def __init__(self, token: int):
        super().__init__()
        self.token = token
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # a device for the batch

    def forward(self, input_ids, attention_mask):
        hit = (input_ids == self.token).float() * 10
        return SimpleNamespace(start_logits=hit, end_logits=hit)


def _decode(compose_run, shared_cache, *overrides):
    """The encoded row and the decoded prediction of one long-context question, read by PointsAt."""
    run = compose_run("model=tiny-bert", "method=full_finetune", *TASK, *WINDOW, *overrides)
    kind = kind_of(run.task)
    tokenizer = load_tokenizer(run.model, shared_cache)
    reader = make_reader(run.model.family, tokenizer, run.task, kind.head(run.model.family))
    context = long_context("zebra")
    columns = {
        "question": QUESTION,
        "context": context,
        "answers": ["zebra"],
        "answer_starts": [context.rindex("zebra")],
    }
    ex = kind.example(columns, "constructed:1")
    reader.begin_row()  # as the DataModule encodes a row: the kind's encoding, then its truncation flags
    row = {**kind.encode(reader, ex, train=False), "prompt": reader.prompt_text(ex)}
    row.update(prompt_fit.row_flags(reader, row["prompt"], row["prompt"], ex.references))
    [token] = reader.tokenizer("zebra", add_special_tokens=False)["input_ids"]
    outputs, [prediction] = kind.evaluate(reader, PointsAt(token), kind.collate(reader, [row], train=False), None)
    return row, prediction


def test_windowed_decoding_finds_the_answer_in_the_last_window(compose_run, shared_cache):
    row, prediction = _decode(compose_run, shared_cache)
    windows = row["windows"]
    assert len(windows) > 3 and all(len(w) <= 64 for w in windows)
    for before, after in zip(row["starts"], row["starts"][1:]):  # consecutive windows share doc_stride tokens
        assert [s for s in before if s >= 0][-16:] == [s for s in after if s >= 0][:16]
    answer = long_context("zebra").rindex("zebra")
    holding = [i for i, ends in enumerate(row["ends"]) if any(e > answer for e in ends)]
    assert holding == [len(windows) - 1]  # only the last window reaches the answer
    assert not row["answer_lost"] and not row["truncated"]
    assert prediction["predicted"] == "zebra" and prediction["answer_lost"] is False


def test_without_windows_the_answer_is_cut_off_and_counted_lost(compose_run, shared_cache):
    row, prediction = _decode(compose_run, shared_cache, "task.windows=false")
    assert len(row["windows"]) == 1 and len(row["windows"][0]) == 64
    assert row["answer_lost"] and row["truncated"]
    assert prediction["predicted"] != "zebra" and prediction["answer_lost"] is True


@pytest.mark.slow
@pytest.mark.parametrize("windows", [True, False])
def test_cli_counts_answers_lost_to_truncation(tmp_path, cli_cache, windows):
    """Through ptlab-train on a constructed file: with windows no answer is lost; without, every
    question's answer is cut off, counted per split in results.json and said once on the console."""
    squad_file(tmp_path / "data", ["zebra", "lion", "otter", "heron"])
    proc = ptlab_ok(
        "model=tiny-bert", "method=full_finetune", "task=squad_span", *WINDOW, f"task.windows={windows}",
        f"paths.data_dir={tmp_path / 'data'}", "task.local.split_by.groups={train:[0,2],validation:[2,3],test:[3,4]}",
        "trainer.max_steps=2", "data.batch_size=2",
        log_dir=tmp_path / "runs", cache=cli_cache,
    )  # fmt: skip
    (run_dir,) = run_dirs(tmp_path / "runs")
    counts = record(run_dir)["truncation"]
    lost = 0 if windows else 1
    assert counts["test"] == {"prompts": 1, "truncated": lost, "answers_lost": lost}
    assert counts["train"] == {"prompts": 2, "truncated": 2 * lost, "answers_lost": 2 * lost}
    notes = [line for line in proc.stderr.splitlines() if "tokens were cut" in line]
    assert len(notes) == lost
    if not windows:
        assert "train 2 of 2 (answer lost in 2)" in notes[0] and "test 1 of 1 (answer lost in 1)" in notes[0]
    [row] = [json.loads(line) for line in (run_dir / "predictions_test.jsonl").read_text().splitlines()]
    assert row["answer_lost"] is not windows and row["references"] == ["heron"]


# --- methods ---
@pytest.mark.slow
@pytest.mark.parametrize(
    "method,lr", [("full_finetune", 3e-3), ("lora", 3e-2), ("prefix_tuning", 3e-2), ("prompt_tuning", 3e-2)]
)
def test_each_method_trains_on_tiny_bert(compose_run, method, lr):
    run = compose_run(
        "model=tiny-bert", f"method={method}", *TASK, f"method.lr={lr}", "method.warmup_ratio=0",
        "data.k=8", "data.batch_size=8", "task.max_source_length=128", "task.doc_stride=32",
    )  # fmt: skip
    data, module = build_run(run)
    assert any("qa_outputs" in name for name in module.trainable_names())  # the new head trains
    batch = next(iter(data.train_dataloader()))
    before = eval_loss(module, batch)
    trainer = fit(module, data.train_dataloader(), steps=10)
    assert eval_loss(module, batch) < before
    rows = trainer.validate(module, datamodule=data, verbose=False)[0]
    assert 0 <= rows["val/exact_match"] <= rows["val/f1"] <= 1
    predictions = module.predictions["val"]
    assert len(predictions) == 8 and all(p["predicted"] for p in predictions)


@pytest.mark.slow
def test_minilm_through_the_cli(tmp_path, cli_cache):
    ptlab_ok(
        "model=minilm-l6", "method=lora", *TASK, "data.k=16", "data.batch_size=8", "trainer.max_steps=2",
        log_dir=tmp_path / "runs", cache=cli_cache,
    )  # fmt: skip
    (run_dir,) = run_dirs(tmp_path / "runs")
    results = record(run_dir)
    assert results["status"] == "completed" and results["main_metric"] == "f1"
    assert 0 <= results["metrics"]["test"]["f1"] <= 1
    assert results["truncation"]["test"] == {"prompts": 8, "truncated": 0, "answers_lost": 0}


# --- validation ---
@pytest.mark.parametrize("model", ["tiny-llama", "tiny-t5"])
def test_lms_are_not_applicable(compose_run, model):
    with pytest.raises(NotApplicable, match=f"model={model} .* cannot point at an answer span"):
        compose_run(f"model={model}", "method=full_finetune", "task=squad_span")


def test_a_stride_that_would_not_advance_is_refused(compose_run):
    with pytest.raises(ConfigError, match="task.doc_stride=128 must be below half the window"):
        compose_run("model=tiny-bert", "method=full_finetune", "task=squad_span", "task.max_source_length=256")


def test_the_cli_names_the_bad_stride_in_one_line(tmp_path):
    import subprocess

    from test_bad_input import error_line

    proc = subprocess.run(
        ptlab_cmd("model=tiny-bert", "method=full_finetune", "task=squad_span", "task.doc_stride=0"),
        env=ptlab_env(tmp_path / "runs", tmp_path / "cache"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "task.doc_stride" in error_line(proc)
