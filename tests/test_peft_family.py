"""The PEFT family beyond LoRA and the prompt methods: every peft method's export reloads with peft
alone, IA3 starts as the untouched model, and BitFit is n/a, before loading, on a model without
bias terms (the shared contract tests in test_methods.py cover training and checkpoints)."""

import copy

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file

from ptlab.run.build import build_run
from ptlab.errors import NotApplicable
from ptlab.methods import registry
from ptlab.methods.bitfit import EXPORT_FILE
from training import eval_loss, fit, trained

PEFT = sorted(name for name, m in registry().items() if m.peft)


# Every peft method on both LM families, and LoRA on an encoder (its new head exported with it).
EXPORTS = [(model, method) for model in ("tiny-llama", "tiny-t5") for method in PEFT] + [("tiny-bert", "lora")]


@pytest.mark.slow
@pytest.mark.parametrize("model, method", EXPORTS)
def test_peft_export_reloads_with_peft_alone(compose_run, tmp_path, model, method):
    module, fresh, inputs = trained(compose_run, model, method)
    module.method.export(module.model, tmp_path / "adapter")
    base = copy.deepcopy(fresh).eval()
    loaded = PeftModel.from_pretrained(fresh, str(tmp_path / "adapter")).eval()
    module.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).logits, module.model(**inputs).logits)
        before = base(**inputs).logits  # virtual tokens add positions in front: compare the text's
        assert not torch.allclose(loaded(**inputs).logits[:, -before.shape[1] :], before)  # it trained


@pytest.mark.slow
@pytest.mark.parametrize("model", ["tiny-llama", "tiny-t5"])
@pytest.mark.parametrize("method", ["ia3", "lora"])  # IA3's vectors start at 1, LoRA's B at zero
def test_a_rescaling_or_low_rank_method_starts_as_the_untouched_model(compose_run, model, method):
    module, fresh, inputs = trained(compose_run, model, method, steps=0)
    module.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(module.model(**inputs).logits, fresh.eval()(**inputs).logits)


@pytest.mark.slow
def test_adalora_reallocates_its_rank_budget_after_each_step(compose_run):
    """By the run's last step (trainer.max_steps), peft's allocator, called through the method's
    after_optimizer_step hook, has cut the ranks from init_r to the target_r budget."""
    module, _, _ = trained(compose_run, "tiny-llama", "adalora", steps=3)
    cfg = module.run.method
    pattern = module.model.peft_config["default"].rank_pattern
    assert pattern, "update_and_allocate was never called"
    kept = sum(sum(ranks) for ranks in pattern.values())
    assert kept <= cfg.target_r * len(pattern) < cfg.init_r * len(pattern)


@pytest.mark.parametrize("model,family", [("tiny-llama", "llama"), ("tiny-t5", "t5"), ("smollm2-135m", "llama")])
def test_bitfit_is_not_applicable_before_loading_a_model_without_biases(compose_run, model, family):
    with pytest.raises(NotApplicable, match=f"a {family} model has none"):
        compose_run(f"model={model}", "method=bitfit")


@pytest.mark.slow
def test_bitfit_trains_biases_and_the_head_and_its_export_reloads(compose_run, tmp_path):
    module, fresh, inputs = trained(compose_run, "tiny-bert", "bitfit")
    trainable = {n for n, p in module.model.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in module.model.named_parameters() if n.endswith("bias") or "classifier" in n}
    module.method.export(module.model, tmp_path / "adapter")
    fresh.load_state_dict(load_file(str(tmp_path / "adapter" / EXPORT_FILE)), strict=False)
    module.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(fresh.eval()(**inputs).logits, module.model(**inputs).logits)


@pytest.mark.slow
def test_bitfit_trains_a_causal_lm_with_biases(compose_run):
    """GPT-2's architecture has bias terms: BitFit applies, trains them alone (no head: the LM's
    own), and the loss falls."""
    run = compose_run(
        "model=tiny-llama",
        "model.name=tiny-gpt2",
        "model.random_config.model_type=gpt2",  # the tiny config's sizes, GPT-2's modules
        "method=bitfit",
        "method.lr=3e-2",
        "method.warmup_ratio=0",
        "data.k=8",
        "data.batch_size=8",
    )
    data, module = build_run(run)
    batch = next(iter(data.train_dataloader()))
    before = eval_loss(module, batch)
    fit(module, data.train_dataloader(), steps=12)
    assert eval_loss(module, batch) < before
    trainable = {n for n, p in module.model.named_parameters() if p.requires_grad}
    assert trainable and all(n.endswith("bias") for n in trainable)
