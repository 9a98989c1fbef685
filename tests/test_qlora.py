"""QLoRA on CPU (bitsandbytes' CPU backend): the base loads as 4-bit NF4 layers, only LoRA's
matrices train and the loss falls, and the export loads onto the quantized base with the same
outputs and onto the same base dequantized (the shared contract tests in test_methods.py and
test_resume.py cover checkpoints and resume)."""

import copy

import bitsandbytes as bnb  # the [qlora] extra, which scripts/setup.sh installs
import pytest
import torch
from peft import PeftModel

from ptlab.run.build import build_data
from training import eval_loss, fit, trained


@pytest.mark.slow
@pytest.mark.parametrize("model", ["tiny-llama", "tiny-t5"])
def test_qlora_trains_lora_over_a_4bit_base(compose_run, model):
    module, _, inputs = trained(compose_run, model, "qlora", 0, "method.lr=1e-2", "method.warmup_ratio=0")
    quantized = [m for m in module.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert quantized and all(m.weight.quant_type == "nf4" for m in quantized)
    trainable = {n for n, p in module.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    data = build_data(module.run)
    batch = next(iter(data.train_dataloader()))
    before = eval_loss(module, batch)
    fit(module, data.train_dataloader(), steps=8)
    assert eval_loss(module, batch) < before


@pytest.mark.slow
def test_the_qlora_export_loads_onto_the_quantized_and_the_dequantized_base(compose_run, tmp_path):
    module, fresh, inputs = trained(compose_run, "tiny-llama", "qlora", 4)
    module.method.export(module.model, tmp_path / "adapter")
    module.model.eval()
    quantized = PeftModel.from_pretrained(copy.deepcopy(fresh), str(tmp_path / "adapter")).eval()
    dequantized = PeftModel.from_pretrained(copy.deepcopy(fresh).dequantize(), str(tmp_path / "adapter")).eval()
    assert not any(isinstance(m, bnb.nn.Linear4bit) for m in dequantized.modules())
    with torch.no_grad():
        expected = module.model(**inputs).logits
        torch.testing.assert_close(quantized(**inputs).logits, expected)
        # the same weights, multiplied in fp32 instead of the 4-bit layers' bf16
        torch.testing.assert_close(dequantized(**inputs).logits.float(), expected.float(), rtol=0.05, atol=0.05)
