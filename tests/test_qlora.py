"""QLoRA on CPU (bitsandbytes' CPU backend): the base loads as 4-bit NF4 layers, only LoRA's
matrices train and the loss falls, and the export loads onto the quantized base with the same
outputs and onto the full-precision base (the shared contract tests in test_methods.py and
test_resume.py cover checkpoints and resume)."""

import pytest
import torch
from peft import PeftModel

from ptlab.build import build_data
from ptlab.models.loading import load_model
from training import eval_loss, fit, trained

bnb = pytest.importorskip("bitsandbytes", reason="method=qlora needs bitsandbytes (pinned in constraints.txt)")


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


def test_the_qlora_export_loads_onto_the_quantized_and_the_full_base(compose_run, tmp_path):
    module, _, inputs = trained(compose_run, "tiny-llama", "qlora", 4)
    module.method.export(module.model, tmp_path / "adapter")
    run, data = module.run, build_data(module.run)
    base = load_model(run.model, run.paths.cache_dir, data.reader.head, None, **module.method.load_options())
    loaded = PeftModel.from_pretrained(base, str(tmp_path / "adapter")).eval()
    module.model.eval()
    full_base = load_model(run.model, run.paths.cache_dir, data.reader.head, None)  # not quantized
    full = PeftModel.from_pretrained(full_base, str(tmp_path / "adapter")).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).logits, module.model(**inputs).logits)
        assert torch.isfinite(full(**inputs).logits).all()
    assert not any(isinstance(m, bnb.nn.Linear4bit) for m in full.modules())
