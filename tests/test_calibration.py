"""Contextual calibration and PMI scores equal a hand computation on a tiny LM: one unpadded
forward per (prompt, label), then the formulas of Zhao et al. (2021) and Holtzman et al. (2021)."""

import pytest
import torch

from ptlab.run.build import build_run
from ptlab.scoring.calibration import bare_cue
from ptlab.errors import ConfigError


def _logp(model, prompt, choice):
    """log p(choice | prompt) for one causal LM sequence with no padding."""
    ids = torch.tensor([prompt + choice])
    logp = model(input_ids=ids).logits[0].log_softmax(-1)
    return sum(float(logp[len(prompt) + i - 1, tok]) for i, tok in enumerate(choice))


def _evaluated(run):
    """The model, reader and kind of `run`, its first eval batch and the kind's evaluation of it."""
    data, module = build_run(run)
    model, reader, kind = module.model.eval(), module.reader, module.kind
    batch = next(iter(data.val_dataloader()))
    with torch.no_grad():
        out, rows = kind.evaluate(reader, model, batch, run.decode)
    return model, reader, kind, batch, out, rows


@pytest.mark.parametrize("template", ["review", "yes_no"])
def test_calibrated_and_pmi_scores_equal_a_hand_computation(compose_run, template):
    run = compose_run(
        "model=tiny-llama",
        "method=zero_shot",
        "task=sst2",
        f"task.template={template}",
        "data.eval_limit=4",
        "data.test_limit=4",
        "data.eval_batch_size=4",
    )
    model, reader, kind, batch, out, rows = _evaluated(run)
    with torch.no_grad():
        choices = kind.choice_ids(reader)
        text = run.task.selected.text
        free = [reader.tokenizer(text.format(text=s))["input_ids"] for s in ("N/A", "", "[MASK]")]
        p_cf = torch.tensor([[_logp(model, p, c) for c in choices] for p in free]).softmax(-1).mean(0)
        cue = reader.tokenizer(bare_cue(text))["input_ids"]
        cue_scores = torch.tensor([_logp(model, cue, c) for c in choices])
        for b, prompt in enumerate(batch["prompt_ids"]):
            summed = torch.tensor([_logp(model, prompt, c) for c in choices])
            torch.testing.assert_close(out["calibrated"][b], summed.log_softmax(-1) - p_cf.log(), atol=1e-4, rtol=0)
            torch.testing.assert_close(out["pmi"][b], summed - cue_scores, atol=1e-4, rtol=0)
    labels = list(run.task.labels)
    assert [r["predicted_calibrated"] for r in rows] == [labels[i] for i in out["calibrated"].argmax(-1).tolist()]
    assert [r["predicted_pmi"] for r in rows] == [labels[i] for i in out["pmi"].argmax(-1).tolist()]


def test_bare_cue_is_the_text_after_the_last_field():
    assert bare_cue("Review: {text}\nSentiment:") == "Sentiment:"
    assert bare_cue("{premise}\nQuestion: {hypothesis} True or False?\nAnswer:") == "True or False?\nAnswer:"
    assert bare_cue("{meaning_representation} =>") == "=>"
    assert bare_cue("{text}") == ""


def test_escaped_braces_stay_in_the_cue():
    assert bare_cue("Review: {text}\nSentiment {{label}}:") == "Sentiment {label}:"


@pytest.mark.slow
def test_only_the_requested_baselines_are_computed(compose_run):
    """task.metrics without calibrated/PMI metrics: no content-free or cue forward, no such outputs."""
    run = compose_run(
        "model=tiny-llama",
        "method=zero_shot",
        "task=sst2",
        "data.eval_limit=2",
        "data.test_limit=2",
        "task.metrics=[accuracy]",
    )
    *_, out, rows = _evaluated(run)
    assert set(out) == {"sum", "mean", "gold"} and "predicted_calibrated" not in rows[0]
    run = compose_run(
        "model=tiny-llama",
        "method=zero_shot",
        "task=sst2",
        "data.eval_limit=2",
        "data.test_limit=2",
        "task.metrics=[accuracy,accuracy_pmi]",
    )
    *_, out, rows = _evaluated(run)
    assert "pmi" in out and "calibrated" not in out and "predicted_pmi" in rows[0]


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["+task.calibration.content_free=[]"], "task.calibration.content_free is empty"),
        (
            ["task.templates.review.text='Classify: {text}'"],
            "task.templates.review.text has no text after its last field",
        ),
    ],
    ids=["no-content-free-input", "no-cue-for-pmi"],
)
def test_baselines_that_cannot_be_computed_are_config_errors(compose_run, overrides, message):
    with pytest.raises(ConfigError, match=message):
        compose_run("model=tiny-llama", "method=zero_shot", "task=sst2", *overrides)
    compose_run("model=tiny-llama", "method=zero_shot", "task=sst2", "task.metrics=[accuracy]", *overrides)  # not asked


@pytest.mark.slow
def test_a_custom_cue_and_content_free_list_are_used(compose_run):
    run = compose_run(
        "model=tiny-llama",
        "method=zero_shot",
        "task=sst2",
        "data.eval_limit=2",
        "data.test_limit=2",
        "+task.calibration.cue=Answer:",
        "+task.calibration.content_free=[nothing]",
    )
    model, reader, kind, batch, out, _ = _evaluated(run)
    with torch.no_grad():
        choices = kind.choice_ids(reader)
        free = reader.tokenizer(run.task.selected.text.format(text="nothing"))["input_ids"]
        p_cf = torch.tensor([_logp(model, free, c) for c in choices]).softmax(-1)
        cue = torch.tensor([_logp(model, reader.tokenizer("Answer:")["input_ids"], c) for c in choices])
        summed, _ = reader.score(model, batch["prompt_ids"], choices)
    torch.testing.assert_close(out["calibrated"], summed.log_softmax(-1) - p_cf.log(), atol=1e-4, rtol=0)
    torch.testing.assert_close(out["pmi"], summed - cue, atol=1e-4, rtol=0)


def test_an_encoder_gets_contextual_calibration_but_no_pmi(compose_run):
    _, module = build_run(
        compose_run(
            "model=tiny-bert", "method=full_finetune", "task=sst2", "data.k=4", "data.eval_limit=2", "data.test_limit=2"
        )
    )
    assert "accuracy_calibrated" in module.metrics["val"].metrics
    assert "accuracy_pmi" not in module.metrics["val"].metrics  # PMI scores answer text: LMs only
    with pytest.raises(ConfigError, match="task.main_metric=accuracy_pmi needs an LM head"):
        compose_run("model=tiny-bert", "method=full_finetune", "task=sst2", "task.main_metric=accuracy_pmi")
