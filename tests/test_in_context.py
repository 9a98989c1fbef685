"""In-context k-shot: the demonstrations are the run's training draw, their key/value cache computed
once gives the scores of recomputing the whole context per example, and those equal a hand
computation over the tokens of the joint text; an overflowing context drops whole demonstrations."""

import dataclasses

import pytest
import torch

from ptlab.run.build import build_run
from ptlab.errors import ConfigError

MULTI = {"negative": " not good at all", "positive": " really very good"}  # the cache-continuation path


def _run(compose_run, *extra, labels=None):
    run = compose_run(
        "model=tiny-llama",
        "method=in_context",
        "task=sst2",
        "data.k=4",
        "data.eval_limit=4",
        "data.test_limit=4",
        "data.eval_batch_size=4",
        *extra,
    )
    if labels:
        run = dataclasses.replace(run, task=dataclasses.replace(run.task, labels=labels, max_target_length=8))
    return run


def _scores(run):
    data, module = build_run(run)
    batch = next(iter(data.val_dataloader()))
    module.model.eval()
    with torch.no_grad():
        out, _ = module.kind.evaluate(module.reader, module.model, batch, run.decode)
    return data, module, batch, out


@pytest.mark.slow
@pytest.mark.parametrize("labels", [None, MULTI], ids=["single-token", "multi-token"])
def test_cached_context_equals_recomputing_it_and_a_hand_computation(compose_run, labels):
    data, module, batch, cached = _scores(_run(compose_run, labels=labels))
    _, _, _, recomputed = _scores(_run(compose_run, "method.reuse_cache=false", labels=labels))
    for key in ("sum", "mean", "calibrated", "pmi"):
        torch.testing.assert_close(cached[key], recomputed[key], atol=1e-4, rtol=0)
    method, reader = module.method, module.reader
    text = method.context_text(reader, method.demonstrations)
    context = reader.context_ids(text)
    for prompt, ids in zip(batch["prompt"], batch["prompt_ids"]):  # the ids of the joint text, as lm-eval's
        assert context + list(ids) == reader.tokenizer(text + prompt)["input_ids"]
    backbone = module.model.get_base_model()
    with torch.no_grad():
        for b, prompt in enumerate(batch["prompt_ids"]):
            for k, choice in enumerate(module.kind.choice_ids(reader)):
                ids = torch.tensor([context + prompt + choice])
                logp = backbone(input_ids=ids).logits[0].log_softmax(-1)
                start = len(context) + len(prompt)
                expected = sum(float(logp[start + i - 1, tok]) for i, tok in enumerate(choice))
                assert float(cached["sum"][b, k]) == pytest.approx(expected, abs=1e-4)
    assert reader.leading_special_ids == [] or prompt[: len(reader.leading_special_ids)] != reader.leading_special_ids


@pytest.mark.slow
def test_demonstrations_are_the_training_draw_shuffled_by_seed_and_recorded(compose_run):
    data, module, _, _ = _scores(_run(compose_run, "data.k=6"))
    drawn = {ex.where for ex in data.raw["train"]}
    used = module.method.summary()["demonstrations"]
    assert set(used) == drawn and len(used) == 6  # the same examples a 6-shot trained method gets
    assert all("train.tsv" in where for where in used)  # never the evaluated split
    text = module.method.context_text(module.reader, module.method.demonstrations)
    first = module.method.demonstrations[0]
    assert text.startswith(module.reader.prompt_text(first) + module.kind.answer_text(first) + "\n\n")
    data_1, module_1, _, _ = _scores(_run(compose_run, "data.k=6", "seed=1"))
    assert module_1.method.summary()["demonstrations"] != used


def test_an_overflowing_context_drops_whole_demonstrations(compose_run, capsys):
    run = _run(compose_run, "data.k=16", "+model.random_config.max_position_embeddings=400")
    _, module, _, out = _scores(run)
    summary = module.method.summary()
    assert summary["dropped"] > 0 and len(summary["demonstrations"]) == 16 - summary["dropped"]
    assert summary["context_tokens"] <= 400 - run.task.max_source_length - run.task.max_target_length
    assert f"dropped {summary['dropped']} of 16 demonstrations" in capsys.readouterr().err
    assert torch.isfinite(out["sum"]).all()


def test_a_context_with_no_room_for_one_demonstration_is_an_error(compose_run):
    """Not a silent zero-shot run on prompts tokenized to follow a context."""
    run = _run(compose_run, "+model.random_config.max_position_embeddings=140")  # 128-token prompts + 4
    with pytest.raises(ConfigError, match="not one demonstration fits the model's 140 positions"):
        build_run(run)


def test_in_context_needs_a_k_shot_draw_and_an_lm(compose_run):
    with pytest.raises(ConfigError, match="set data.k or data.k_per_class"):
        compose_run("model=tiny-llama", "method=in_context", "task=sst2")
    with pytest.raises(ConfigError, match="needs a model with an LM head"):
        compose_run("model=tiny-bert", "method=in_context", "task=sst2", "data.k=4")
