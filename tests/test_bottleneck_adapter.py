"""Bottleneck adapters (method=adapter): step 0 is the untouched model on every family, each
variant puts its bottlenecks where its paper does, the export goes back onto a fresh base, and an
architecture with no known places is n/a before loading (the shared contract tests in
test_methods.py and test_resume.py cover training, checkpoints and resume)."""

import pytest
import torch

from ptlab.errors import ConfigError, NotApplicable
from ptlab.methods.adapter import CHILD, attach_exported
from training import trained

LAYERS = {"tiny-llama": 2, "tiny-t5": 4, "tiny-bert": 2}  # T5: 2 encoder + 2 decoder blocks


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(LAYERS))
@pytest.mark.parametrize("variant,per_layer", [("houlsby", 2), ("pfeiffer", 1)])
def test_each_variant_starts_as_the_untouched_model_with_its_bottlenecks_in_place(
    compose_run, model, variant, per_layer
):
    module, fresh, inputs = trained(compose_run, model, "adapter", 0, f"method.variant={variant}")
    placed = [n for n, _ in module.model.named_modules() if n.endswith(f".{CHILD}")]
    assert len(placed) == per_layer * LAYERS[model]
    assert module.method.summary()["bottlenecks"] == len(placed)
    norms = [n for n, p in module.model.named_parameters() if p.requires_grad and "norm" in n.lower()]
    assert bool(norms) == (variant == "houlsby")  # Houlsby et al. train the layer norms too
    module.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(module.model(**inputs).logits, fresh.eval()(**inputs).logits)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["tiny-llama", "tiny-bert"])
def test_the_export_goes_back_onto_a_fresh_base(compose_run, tmp_path, model):
    module, fresh, inputs = trained(compose_run, model, "adapter")
    module.method.export(module.model, tmp_path / "adapter")
    base = fresh.eval()
    with torch.no_grad():
        before = base(**inputs).logits
    loaded = attach_exported(fresh, tmp_path / "adapter").eval()
    module.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).logits, module.model(**inputs).logits)
        assert not torch.allclose(loaded(**inputs).logits, before)  # it trained


def test_target_modules_choose_the_places(compose_run):
    only = "method.target_modules=[layers\\.0\\.mlp\\.up_proj]"
    module, _, _ = trained(compose_run, "tiny-llama", "adapter", 0, only)
    placed = [n for n, _ in module.model.named_modules() if n.endswith(f".{CHILD}")]
    assert placed == [f"model.layers.0.mlp.up_proj.{CHILD}"]


@pytest.mark.slow
def test_a_pattern_that_matches_nothing_names_itself(compose_run):
    with pytest.raises(ValueError, match=r"\['mlp\\\\.nowhere'\] match no module of this llama model"):
        trained(compose_run, "tiny-llama", "adapter", 0, "method.target_modules=[mlp\\.nowhere]")


def test_an_architecture_without_known_places_is_not_applicable_before_loading(compose_run):
    with pytest.raises(NotApplicable, match="knows no places in a opt model: set method.target_modules"):
        compose_run("model=tiny-llama", "model.random_config.model_type=opt", "method=adapter")


@pytest.mark.parametrize(
    "override,message",
    [
        ("method.variant=compacter", "method.variant must be one of"),
        ("method.reduction_factor=0", "method.reduction_factor must be an integer >= 1"),
        ("method.activation=softmax", "method.activation must be one of"),
        ("method.target_modules=[]", "method.target_modules is empty"),
        ("method.target_modules=['(']", "is not a regex"),
    ],
)
def test_bad_adapter_settings_fail_validation(compose_run, override, message):
    with pytest.raises(ConfigError, match=message):
        compose_run("model=tiny-llama", "method=adapter", override)
