"""Memory-saving options change memory, not results: activation checkpointing trains every method
to the same weights as without it (the same RNG for dropout in the recomputation), and a bfloat16
base trains its fp32 parameters under autocast to scores close to fp32's. Bad combinations are
config errors before anything loads."""

import pytest
import torch

from ptlab.run.build import build_run
from ptlab.errors import ConfigError
from ptlab.methods import method_class, registry
from training import eval_loss, fit, trained_methods

STEPS = 3
FAMILIES = ("tiny-llama", "tiny-t5", "tiny-bert")
FAMILY_METHODS = [(model, method) for model in FAMILIES for method in trained_methods(model)]


def _trained(compose_run, model, method, *overrides):
    run = compose_run(
        f"model={model}",
        f"method={method}",
        f"method.lr={trained_methods(model)[method]}",
        "method.warmup_ratio=0",
        "data.k=8",
        "data.batch_size=4",
        f"trainer.max_steps={STEPS}",
        *overrides,
    )
    data, module = build_run(run)
    batch = next(iter(data.train_dataloader()))
    before = eval_loss(module, batch)
    fit(module, data.train_dataloader(), STEPS, run.trainer.get("precision") or "32-true")
    return module, batch, before


@pytest.mark.slow
@pytest.mark.parametrize("model,method", FAMILY_METHODS, ids=["-".join(c) for c in FAMILY_METHODS])
def test_checkpointing_activations_trains_to_the_same_model(compose_run, model, method):
    refusal = method_class(method).no_activation_checkpointing
    if refusal:  # known before loading: a config error naming the method
        with pytest.raises(ConfigError, match=f"cannot work with method={method}: {refusal}"):
            compose_run(f"model={model}", f"method={method}", "model.gradient_checkpointing=true")
        return
    plain, batch, _ = _trained(compose_run, model, method)
    saved, _, _ = _trained(compose_run, model, method, "model.gradient_checkpointing=true")
    backbone = saved.model.get_base_model() if hasattr(saved.model, "get_base_model") else saved.model
    assert backbone.is_gradient_checkpointing
    assert eval_loss(saved, batch) == pytest.approx(eval_loss(plain, batch), abs=1e-5)
    for (name, a), (_, b) in zip(plain.model.named_parameters(), saved.model.named_parameters()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lora", "prompt_tuning", "full_finetune"])
def test_a_bfloat16_base_trains_fp32_parameters_close_to_an_fp32_run(compose_run, method):
    half, batch, before = _trained(
        compose_run, "tiny-llama", method, "+model.dtype=bfloat16", "trainer.precision=bf16-mixed"
    )
    full, _, _ = _trained(compose_run, "tiny-llama", method)
    trained = {n: p.dtype for n, p in half.model.named_parameters() if p.requires_grad}
    frozen = {p.dtype for p in half.model.parameters() if not p.requires_grad}
    assert trained and set(trained.values()) == {torch.float32}
    assert frozen <= {torch.bfloat16}
    after = eval_loss(half, batch)
    assert after < before
    assert after == pytest.approx(eval_loss(full, batch), rel=0.05)  # bf16 keeps ~3 significant digits


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["model=api", "method=zero_shot", "+model.gradient_checkpointing=true"], "family api\\) has no local weights"),
        (["model=tiny-llama", "method=lora", "+model.dtype=bfloat16"], "set trainer.precision=bf16-mixed"),
        (
            ["model=tiny-llama", "method=lora", "+model.dtype=float16", "trainer.precision=bf16-mixed"],
            "set trainer.precision=16-mixed",
        ),
        (["model=tiny-llama", "method=lora", "trainer=ddp_cpu", "trainer.strategy=fsdp"], "not method=lora; use"),
    ],
)
def test_memory_options_that_cannot_work_fail_validation(compose_run, overrides, message):
    with pytest.raises(ConfigError, match=message):
        compose_run(*overrides)


def test_a_low_precision_base_needs_no_autocast_when_nothing_trains(compose_run):
    run = compose_run("model=tiny-llama", "method=zero_shot", "+model.dtype=bfloat16")
    assert run.model.dtype.value == "bfloat16"


@pytest.mark.parametrize("method", sorted(registry()))
def test_only_a_method_that_shards_passes_validation_under_fsdp(compose_run, method):
    """trainer=fsdp runs what tests/test_fsdp.py runs (full fine-tuning); any other method is a config
    error before anything loads, not a DTensor error after training (peft's forward and export)."""
    model = "tiny-bert" if method == "bitfit" else "tiny-llama"  # BitFit needs biases
    if method_class(method).shardable:
        assert compose_run(f"model={model}", f"method={method}", "trainer=fsdp_cpu", "data.k=4").trainer["devices"] == 2
        return
    with pytest.raises(ConfigError, match=f"for method=full_finetune only, not method={method}; use trainer=ddp"):
        compose_run(f"model={model}", f"method={method}", "trainer=fsdp_cpu", "data.k=4")
