"""The rank scorer equals log-probabilities computed by hand, one unpadded sequence at a time,
for a bare model and under peft (prompt and prefix tuning): the scorer computes each prompt once
(a causal LM continues every label from the prompt's key/value cache; an encoder-decoder encodes
the prompt once) and must match the full per-choice forwards."""

import dataclasses

import pytest
import torch

from ptlab.data.example import Example
from ptlab.run.build import build_run

# Multi-token verbalizers of different lengths (the general path: summed and length-normalized
# scores differ), and distinct single tokens (causal LMs: one forward per example).
MULTI = {"yes": " absolutely wonderful indeed", "no": " no"}
SINGLE = {"yes": " good", "no": " bad"}
TEXTS = ["a gripping , funny film", "dull", "the plot makes no sense at all , sadly"]
CASES = {
    "causal-multi-token": ("tiny-llama", MULTI, "zero_shot"),
    "causal-single-token": ("tiny-llama", SINGLE, "zero_shot"),
    "causal-multi-token-prompt-tuning": ("tiny-llama", MULTI, "prompt_tuning"),
    "causal-multi-token-prefix-tuning": ("tiny-llama", MULTI, "prefix_tuning"),
    "seq2seq-multi-token": ("tiny-t5", MULTI, "zero_shot"),
    "seq2seq-multi-token-prompt-tuning": ("tiny-t5", MULTI, "prompt_tuning"),
    "seq2seq-multi-token-prefix-tuning": ("tiny-t5", MULTI, "prefix_tuning"),
}


@pytest.fixture(params=CASES.values(), ids=CASES.keys())
def setup(request, compose_run):
    model_name, labels, method = request.param
    run = compose_run(
        f"model={model_name}", f"method={method}", "task=sst2", "data.k=8", "data.eval_limit=4", "data.test_limit=4"
    )
    values = dict(enumerate(labels))  # SST-2's 0/1 in the order of the replacement labels
    run = dataclasses.replace(
        run, task=dataclasses.replace(run.task, labels=labels, label_values=values, max_target_length=8)
    )
    _, module = build_run(run)
    model, reader, kind = module.model.eval(), module.reader, module.kind
    torch.manual_seed(0)
    with torch.no_grad():  # move the prompt/prefix away from its init, so it must be accounted for
        for param in model.parameters():
            if param.requires_grad and method != "zero_shot":
                param.add_(torch.randn_like(param))
    examples = [Example(fields={"text": t}, label=0) for t in TEXTS]
    batch = kind.collate(reader, [{**kind.encode(reader, e, train=False), "prompt": ""} for e in examples], train=False)
    return run.model.family.value, kind, reader, model, batch


def _by_hand(family, reader, model, prompt, choice):
    """log p(choice | prompt), token by token, for one sequence with no padding (under peft the
    logits of prompt tuning's virtual tokens come first, and are dropped)."""
    with torch.no_grad():
        if family == "causal":
            ids = torch.tensor([prompt + choice])
            logp = model(input_ids=ids).logits[0, -ids.shape[1] :].log_softmax(-1)
            return sum(float(logp[len(prompt) + i - 1, tok]) for i, tok in enumerate(choice))
        decoder_in = [model.config.decoder_start_token_id] + choice[:-1]
        logits = model(input_ids=torch.tensor([prompt]), decoder_input_ids=torch.tensor([decoder_in])).logits
        logp = logits[0].log_softmax(-1)
        return sum(float(logp[i, tok]) for i, tok in enumerate(choice))


@pytest.mark.slow
def test_rank_scores_equal_hand_computed_log_probabilities(setup):
    family, kind, reader, model, batch = setup
    choices = kind.choice_ids(reader)
    if reader.task.labels is SINGLE:
        assert [len(c) for c in choices] == [1, 1]
    else:
        assert len(choices[0]) > len(choices[1])
    with torch.no_grad():
        summed, mean = reader.score(model, batch["prompt_ids"], choices)
    for b, prompt in enumerate(batch["prompt_ids"]):
        for k, choice in enumerate(choices):
            expected = _by_hand(family, reader, model, prompt, choice)
            assert float(summed[b, k]) == pytest.approx(expected, abs=1e-4)
            assert float(mean[b, k]) == pytest.approx(expected / len(choice), abs=1e-4)


@pytest.mark.slow
def test_training_loss_is_the_gold_verbalizers_mean_token_nll(setup):
    family, kind, reader, model, _ = setup
    examples = [Example(fields={"text": t}, label=i % 2) for i, t in enumerate(TEXTS)]
    rows = [kind.encode(reader, e, train=True) for e in examples]
    with torch.no_grad():
        loss = float(kind.loss(reader, model, kind.collate(reader, rows, train=True)))
    total = sum(_by_hand(family, reader, model, r["prompt_ids"], r["answer_ids"]) for r in rows)
    tokens = sum(len(r["answer_ids"]) for r in rows)
    assert loss == pytest.approx(-total / tokens, abs=1e-4)
