"""Every method x model family, on a classification and a generation task, with tiny models:
the loss falls, only the method's parameters change, and checkpoints reload to the same model."""

import copy

import lightning as L
import pytest
import torch
from peft import PeftModel

from ptlab.methods.prefix_tuning import accept_past_key_values
from ptlab.models.loading import load_model
from ptlab.run.build import build_data, build_module, build_run
from training import trained_methods

FAMILIES = ["tiny-llama", "tiny-t5", "tiny-bert"]
# Every trained method in the registry on each family it applies to, at a rate that moves a tiny model.
TRAINED = {model: trained_methods(model) for model in FAMILIES}
HEAD = "classifier"  # an encoder's new task head, trained beside every method's own parameters
CASES = [
    (model, method, task)
    for model in FAMILIES
    for method in TRAINED[model]
    for task in ("sst2", "e2e_nlg")
    if not (model == "tiny-bert" and task == "e2e_nlg")  # an encoder cannot generate
]


def _build(compose_run, model, method, task):
    run = compose_run(
        f"model={model}",
        f"method={method}",
        f"task={task}",
        f"method.lr={TRAINED[model][method]}",
        "method.warmup_ratio=0",
        "data.k=8",
        "data.batch_size=8",
        "data.eval_limit=4",
        "data.test_limit=4",
    )
    return build_run(run)


def _eval_loss(module, batch):
    module.model.eval()
    with torch.no_grad():
        loss = float(module.kind.loss(module.reader, module.model, batch))
    module.model.train()
    return loss


@pytest.mark.slow
@pytest.mark.parametrize("model,method,task", CASES, ids=["-".join(c) for c in CASES])
def test_method_trains_only_its_parameters_and_reloads(compose_run, tmp_path, model, method, task):
    data, module = _build(compose_run, model, method, task)
    assert all(m.training for m in module.model.modules())  # dropout on: HF loads in eval mode
    batch = next(iter(data.train_dataloader()))  # k=8, batch 8: the whole training set
    before = {n: p.detach().clone() for n, p in module.model.named_parameters()}
    loss_before = _eval_loss(module, batch)

    trainer = L.Trainer(
        max_steps=12,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, train_dataloaders=data.train_dataloader())
    assert _eval_loss(module, batch) < loss_before
    assert module.padding_fraction == pytest.approx(1 - batch["attention_mask"].float().mean().item())
    optimized = {id(p) for group in trainer.optimizers[0].param_groups for p in group["params"]}
    assert optimized == {id(p) for p in module.model.parameters() if p.requires_grad}

    trainable = {n for n, p in module.model.named_parameters() if p.requires_grad}
    changed = {n for n, p in module.model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and changed <= trainable
    own = module.method.trained_parameters
    if own is None:
        assert trainable == set(before)
    else:  # e.g. peft's prompt/prefix tables or LoRA's matrices, plus an encoder's fresh head
        assert all(any(o in n for o in own) or HEAD in n for n in trainable)
        assert any(any(o in n for o in own) for n in changed)

    path = tmp_path / "step.ckpt"
    trainer.save_checkpoint(path)
    state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    if module.method.saves_frozen_weights:
        assert set(state) >= {f"model.{n}" for n in before}
    else:
        assert set(state) == {f"model.{n}" for n in trainable}

    _, fresh = _build(compose_run, model, method, task)  # same seed: the same frozen backbone
    fresh.load_state_dict(state, strict=fresh.strict_loading)
    assert _eval_loss(fresh, batch) == pytest.approx(_eval_loss(module, batch), abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize(
    "model,task,beams", [("tiny-llama", "sst2", 1), ("tiny-t5", "e2e_nlg", 1), ("tiny-llama", "e2e_nlg", 3)]
)
def test_zero_shot_trains_nothing_and_scores_with_the_shared_scorer(compose_run, model, task, beams):
    run = compose_run(
        f"model={model}",
        "method=zero_shot",
        f"task={task}",
        "data.eval_limit=4",
        "data.test_limit=4",
        f"decode.num_beams={beams}",
        "task.max_target_length=8",
    )
    data, module = build_run(run)
    assert not any(p.requires_grad for p in module.model.parameters())
    assert module.parameter_counts()["trainable"] == 0
    trainer = L.Trainer(logger=False, enable_progress_bar=False, accelerator="cpu")
    metrics = trainer.validate(module, datamodule=data, verbose=False)[0]
    assert set(metrics) == {f"val/{m}" for m in run.task.metrics}
    assert len(module.predictions["val"]) == 4


@pytest.mark.slow
def test_prefix_starts_as_the_model_with_its_init_text_in_front(compose_run):
    run = compose_run(
        "model=tiny-llama",
        "method=prefix_tuning",
        "method.num_virtual_tokens=3",
        "method.init=text",
        "method.init_text='a truly great film'",
    )
    data, module = build_run(run)
    tokenizer = data.reader.tokenizer
    prefix = tokenizer("a truly great film", add_special_tokens=False)["input_ids"][:3]
    prompt = torch.tensor([tokenizer("Review: dull\nSentiment:")["input_ids"]])
    module.model.eval()
    with torch.no_grad():
        tuned = module.model(input_ids=prompt).logits
        backbone = module.model.get_base_model()
        with_text = backbone(input_ids=torch.cat([torch.tensor([prefix]), prompt], dim=1)).logits
    torch.testing.assert_close(tuned, with_text[:, len(prefix) :], atol=1e-5, rtol=1e-5)


@pytest.mark.slow
def test_encoder_prefix_enters_every_layer_and_reloads_from_its_export(compose_run, tmp_path):
    """An encoder's prefix reaches every self-attention layer through peft, also after
    PeftModel.from_pretrained (transformers 5.24 renamed the argument peft passes it by)."""
    run = compose_run("model=tiny-bert", "method=prefix_tuning", "method.num_virtual_tokens=2")
    data = build_data(run)
    backbone = load_model(run.model, run.paths.cache_dir, data.reader.head, data.kind.num_labels())
    fresh = copy.deepcopy(backbone)
    model = build_module(run, data, backbone).model.eval()
    batch = next(iter(data.train_dataloader()))  # padded: the prefix's mask is prepended
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    table = model.prompt_encoder[model.active_adapter].embedding.weight
    layers = model.peft_config[model.active_adapter].num_layers
    width = table.shape[1] // layers  # per layer: its keys, then its values
    with torch.no_grad():
        table.normal_()
        logits = model(**inputs).logits
        for layer in range(layers):
            part = table[:, layer * width : (layer + 1) * width]
            saved = part.clone()
            part.add_(torch.randn_like(part))
            assert not torch.allclose(model(**inputs).logits, logits), f"layer {layer} ignores its prefix"
            part.copy_(saved)

    model.save_pretrained(str(tmp_path / "adapter"))
    loaded = PeftModel.from_pretrained(fresh, str(tmp_path / "adapter")).eval()
    accept_past_key_values(loaded)
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).logits, logits)
