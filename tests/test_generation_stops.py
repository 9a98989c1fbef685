"""Generation stops where the prediction ends (ptlab/models/ending.py, generate.py): the cut
equals lm-eval 0.4.13's `until` handling (exactly, with decode.stop_at_start), on strings and on a
model's own decoding; stopped greedy decoding gives the predictions of decoding to
max_target_length, in fewer tokens, on both LM families, in context, through the CLI and through an
API server (its `stop`); a bad `task.stop` is one error."""

from __future__ import annotations

import json

import pytest
import torch

from cli import ptlab_ok, run_dirs
from ptlab.run.build import build_run
from ptlab.models.ending import Ending
from ptlab.models.generate import PredictionEnded, generate_until
from ptlab.models.tensors import pad
from test_api import api, compose, served, server  # noqa: F401 - the API server fixtures
from test_bad_input import CONFIG_TIMEOUT, error_line, ptlab, written

# (generated text, stop sequences): earliest stop wins whatever the list's order, a stop inside
# another, a multi-character stop, no stop at all, the leading space every LM writes first
CASES = [
    (" Denver Broncos\nQuestion: who", ["\n"]),
    (" in 1990. Q: when was\nit", ["\n", "Q:"]),
    (" in 1990. Q: when was\nit", ["Q:", "\n"]),
    ("Subject: lunch###\n\nbody", ["\n\n", "###", "\n"]),
    (" a.b.c", ["\n", ".b"]),
    (" no stop here ", ["\n", "Q:"]),
    ("Paris", ["\n"]),
]


LEADING = [("\nParis\nThe capital", ["\n"]), ("\n\n Paris. Q: x", ["\n", "Q:"]), ("  \n", ["\n"])]


def cut(text, stops, stop_at_start=False) -> str:
    return Ending(tuple(stops), stop_at_start).cut(text)


@pytest.mark.parametrize("text,stops", CASES)
def test_the_cut_is_lm_evals(text, stops):
    from lm_eval.models.utils import postprocess_generated_text

    assert cut(text, stops) == postprocess_generated_text(text, stops, None).strip()


@pytest.mark.parametrize("text,stops", CASES + LEADING)
def test_stop_at_start_is_lm_evals_until_exactly(text, stops):
    from lm_eval.models.utils import postprocess_generated_text

    assert cut(text, stops, stop_at_start=True) == postprocess_generated_text(text, stops, None).strip()


def test_a_prediction_starts_at_its_first_character_where_lm_eval_cuts_a_leading_stop():
    """ptlab's default, kept from its earlier newline cut: the answer on the next line is read."""
    from lm_eval.models.utils import postprocess_generated_text

    assert cut("\nParis\nThe capital", ["\n"]) == "Paris"
    assert postprocess_generated_text("\nParis\nThe capital", ["\n"], None) == ""


def built(compose_run, model: str, method: str = "zero_shot", *more: str):
    run = compose_run(f"model={model}", f"method={method}", "task=e2e_nlg", "data.eval_limit=4", *more)
    run.task.max_target_length = 20
    data, module = build_run(run)
    module.model.eval()
    return data, module


def mid_words(texts) -> list:
    """A word from the middle of each text that has three: stops that rows hit part-way."""
    return sorted({" " + words[len(words) // 2] for words in (t.split() for t in texts) if len(words) > 2})


@pytest.mark.slow
@pytest.mark.parametrize(
    "model,method,more",
    [("tiny-llama", "zero_shot", ()), ("tiny-t5", "zero_shot", ()), ("tiny-llama", "in_context", ("data.k=2",))],
)
def test_stopped_decoding_gives_the_same_predictions_in_fewer_tokens(compose_run, model, method, more):
    """Rows of different lengths (left padded on a causal LM, behind the demonstrations' context in
    context) each stop at their own stop; decoding to the end and cutting gives the same texts."""
    data, module = built(compose_run, model, method, *more)
    kind, reader, decode = data.kind, data.reader, module.run.decode
    batch = kind.collate(reader, list(data.splits["validation"]), train=False)
    assert len({len(p) for p in batch["prompt_ids"]}) > 1  # padding differs between rows
    with torch.no_grad():
        decode.stop_early = False
        _, full = kind.evaluate(reader, module.model, batch, decode)
        kind.task.stop = mid_words(r["predicted"] for r in full)
        assert kind.task.stop, [r["predicted"] for r in full]
        _, cut_after = kind.evaluate(reader, module.model, batch, decode)
        decode.stop_early = True
        _, stopped = kind.evaluate(reader, module.model, batch, decode)
    assert [r["predicted"] for r in stopped] == [r["predicted"] for r in cut_after]
    assert [r["decoded_tokens"] for r in cut_after] == [r["decoded_tokens"] for r in full]
    early, late = [r["decoded_tokens"] for r in stopped], [r["decoded_tokens"] for r in full]
    assert all(e <= f for e, f in zip(early, late)) and sum(early) < sum(late)


def test_a_row_that_stopped_is_not_extended(compose_run):
    """After its stop a row holds pad tokens while the others decode on, and the batch ends when
    the last row has stopped."""
    data, module = built(compose_run, "tiny-llama")
    reader = data.reader
    prompts = [row["prompt_ids"] for row in data.splits["validation"]]
    inputs = {
        "input_ids": pad(prompts, reader.pad_id, left=True),
        "attention_mask": pad([[1] * len(p) for p in prompts], 0, left=True),
    }
    width = inputs["input_ids"].shape[1]
    with torch.no_grad():
        texts, _ = reader.generate(module.model, prompts, 1, 20, Ending(("\n",)), False)
        stops = mid_words(texts)
        out, ended = generate_until(module.model, inputs, reader, 1, 20, Ending(("\n", *stops)), True)
    decoded = ended.decoded(len(prompts), out.shape[1] - width)
    assert min(decoded) < max(decoded) == out.shape[1] - width < 20
    for row, n in zip(out[:, width:].tolist(), decoded):
        assert set(row[n:]) <= {reader.pad_id}


def test_a_row_stops_where_lm_evals_stop_sequence_criteria_stop_it(compose_run):
    """Each prompt alone, greedy: lm-eval's MultiTokenEOSCriteria and ptlab's stop after the same
    token, and lm-eval's text cut at `until` is ptlab's prediction."""
    from lm_eval.models.utils import postprocess_generated_text
    from lm_eval.models.utils_hf import stop_sequences_criteria
    from transformers import StoppingCriteriaList

    data, module = built(compose_run, "tiny-llama")
    reader, model, decode = data.reader, module.model, data.reader.tokenizer.decode
    prompts = [row["prompt_ids"] for row in data.splits["validation"]]
    eos = reader.tokenizer.eos_token_id
    kwargs = dict(max_new_tokens=20, do_sample=False, pad_token_id=reader.pad_id, eos_token_id=eos)
    lengths = []
    with torch.no_grad():
        texts = [decode(model.generate(input_ids=torch.tensor([p]), **kwargs)[0, len(p) :]) for p in prompts]
        stops = mid_words(texts)
        for prompt in prompts:
            ids = torch.tensor([prompt])
            until = stop_sequences_criteria(reader.tokenizer, stops, len(prompt), 1)
            theirs = model.generate(input_ids=ids, stopping_criteria=until, **kwargs)[0, len(prompt) :]
            ended = PredictionEnded(reader.tokenizer, Ending(tuple(stops)), eos)
            ours = model.generate(input_ids=ids, stopping_criteria=StoppingCriteriaList([ended]), **kwargs)
            ours = ours[0, len(prompt) :]
            assert ours.tolist() == theirs.tolist() and ended.decoded(1, len(ours)) == [len(ours)]
            lm_eval = postprocess_generated_text(decode(theirs, skip_special_tokens=True), stops, None)
            assert cut(decode(ours, skip_special_tokens=True), stops) == lm_eval.strip()
            lengths.append(len(ours))
    assert min(lengths) < 20, lengths  # some row stopped before max_new_tokens


# ------------------------------------------------------------------ through the CLI, and an API server


@pytest.mark.slow
def test_smollm2_on_squad_stops_at_the_newline_with_the_same_predictions(tmp_path, cli_cache):
    """Zero-shot SmolLM2 answers and then goes on with a new line: stopped there, it decodes fewer
    tokens for the very same predictions as decoding to task.max_target_length."""
    found = {}
    for early in ("true", "false"):
        ptlab_ok(
            "model=smollm2-135m",
            "method=zero_shot",
            "task=squad",
            "data.eval_limit=1",
            "data.test_limit=6",
            "task.max_source_length=256",
            f"decode.stop_early={early}",
            log_dir=tmp_path / early,
            cache=cli_cache,
        )
        [run] = run_dirs(tmp_path / early)
        found[early] = [json.loads(line) for line in (run / "predictions_test.jsonl").read_text().splitlines()]
    stopped, full = found["true"], found["false"]
    assert [r["predicted"] for r in stopped] == [r["predicted"] for r in full]
    early, late = [r["decoded_tokens"] for r in stopped], [r["decoded_tokens"] for r in full]
    assert all(e <= f for e, f in zip(early, late)) and sum(early) < sum(late), (early, late)


@pytest.mark.parametrize(
    "override,message",
    [
        ("+task.stop=['Q:','']", "task.stop[1] is empty (set on the command line); a stop sequence needs text"),
        ("+task.stop=Q", "bad config value at 'task.stop'"),
        ("+task.stop=['Q:']", "unknown key task.stop"),  # classification: no prediction text to stop
    ],
)
def test_a_bad_stop_is_one_error_line_before_any_model_loads(tmp_path, override, message):
    task = "task=sst2" if "unknown" in message else "task=squad"
    proc = ptlab(
        "model=tiny-llama",
        "method=zero_shot",
        task,
        override,
        log_dir=tmp_path / "runs",
        cache=tmp_path / "cache",
        timeout=CONFIG_TIMEOUT,
    )
    assert message in error_line(proc)
    assert written(tmp_path / "runs") == []


@pytest.mark.slow
def test_an_api_model_sends_the_stop_sequences(served, server, data_dir, tmp_path):  # noqa: F811
    run = compose(data_dir, tmp_path / "cache", tmp_path / "run", *api(server, "task=squad", "data.eval_limit=2"))
    run.task.stop = ["Q:", "###"]
    data, module = build_run(run)
    batch = data.kind.collate(data.reader, list(data.splits["validation"]), train=False)
    _, rows = data.kind.evaluate(data.reader, module.model, batch, run.decode)
    # the newline could come before the answer: ptlab cuts there itself, the server stops at the rest
    assert len(server.requests) == 2 and all(r["stop"] == ["Q:", "###"] for r in server.requests)
    assert all("decoded_tokens" not in r and "\n" not in r["predicted"] for r in rows)
    server.requests.clear()
    run.decode.stop_at_start = True  # lm-eval's rule is the API's: the server may stop at every stop
    data.kind.evaluate(data.reader, module.model, batch, run.decode)
    assert len(server.requests) == 2 and all(r["stop"] == ["\n", "Q:", "###"] for r in server.requests)
