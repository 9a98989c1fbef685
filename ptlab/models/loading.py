"""Load a tokenizer and model from a `ModelConfig`: hub id, local dir, pip package, GGUF or random.

GGUF files are dequantized by transformers, which is slow (tens of seconds, most of it parsing the
GGUF metadata), so each file is converted once and kept as a plain HF checkpoint under
`<cache_dir>/gguf/<sha256[:16]>/`; a tokenizer-only load (the tiny random models borrow a real
tokenizer) converts just the tokenizer into `<sha256[:16]>.tokenizer/`. Every cache entry is
written to a temp dir and renamed into place, so an interrupted conversion leaves no half entry.

Models come back as transformers leaves them (from_pretrained: eval mode; from_config: train
mode); the caller (Lightning) sets the mode, so nothing here touches it.

What transformers cannot load becomes one ConfigError or ModelError naming the dir or file and
the fix (ptlab/models/load_errors.py), with the library's exception kept as its cause.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import struct
import tempfile
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch
from huggingface_hub import hf_hub_download
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

from ptlab.cache_files import writing
from ptlab.config import Family, ModelConfig
from ptlab.errors import ConfigError, ModelError
from ptlab.kinds import Head
from ptlab.models.load_errors import empty_vocab_error, hub_error, load_error, one_line
from ptlab.record import atomic_write

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
        tokenizer = AutoTokenizer.from_pretrained(_gguf_tokenizer_dir(cfg, source, cache_dir))
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
        model = auto.from_pretrained(_gguf_model_dir(cfg, source, cache_dir), dtype=dtype, **labels, **options)
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
        config = _from_gguf(cfg, _gguf_path(cfg, resolve_source(cfg)), AutoConfig.from_pretrained, **labels)
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
    kwargs.update(revision=cfg.revision, trust_remote_code=cfg.trust_remote_code, **_token(cfg))
    try:
        return load(source, **kwargs)
    except (OSError, ValueError) as err:
        if isinstance(err, OSError) and not Path(source).is_dir():
            raise hub_error(cfg, source, err) from err
        raise load_error(cfg, source, part, err) from err


def _token(cfg: ModelConfig) -> dict[str, str]:
    """`token=` only when model.hub_token is set; unset, the Hub reads HF_TOKEN itself."""
    return {"token": cfg.hub_token} if cfg.hub_token else {}


def _gguf_path(cfg: ModelConfig, source: str) -> Path:
    """The GGUF file, local or downloaded, checked to start with the GGUF magic bytes."""
    if Path(source).is_dir():
        path = Path(source) / cfg.gguf_file
        if not path.is_file():
            raise ConfigError(f"model {cfg.name}: GGUF file model.gguf_file={str(path)!r} does not exist")
    else:
        try:
            file = hf_hub_download(source, cfg.gguf_file, revision=cfg.revision, **_token(cfg))
            path = Path(file)
        except OSError as err:
            raise hub_error(cfg, source, err) from err
    with path.open("rb") as f:
        if f.read(4) != b"GGUF":
            raise ModelError(
                f"model {cfg.name}: {path} (model.gguf_file) is not a GGUF file (it does not "
                f"start with the bytes 'GGUF'); point model.gguf_file at a .gguf model file"
            )
    return path


def _from_gguf(cfg: ModelConfig, gguf: Path, load: Callable[..., _T], **kwargs: Any) -> _T:
    """`load` from a GGUF file; one transformers cannot parse (cut short, an architecture it
    does not support) becomes a ModelError naming it."""
    try:
        return load(gguf.parent, gguf_file=gguf.name, **kwargs)
    except (ValueError, struct.error) as err:
        raise ModelError(
            f"model {cfg.name}: transformers could not read the GGUF file {gguf} "
            f"({gguf.stat().st_size} bytes; a partial download?): {one_line(err)}"
        ) from err


def _gguf_model_dir(cfg: ModelConfig, source: str, cache_dir: str | Path) -> Path:
    """The dequantized checkpoint (model + tokenizer), converted on first use."""
    gguf, target = _gguf_entry(cfg, source, cache_dir)
    if not target.is_dir():
        tokenizer = AutoTokenizer.from_pretrained(_gguf_tokenizer_dir(cfg, source, cache_dir))
        # T5 GGUFs convert as seq2seq; every other supported architecture as a causal LM.
        auto = AutoModelForSeq2SeqLM if cfg.family == Family.seq2seq else AutoModelForCausalLM
        model = _from_gguf(cfg, gguf, auto.from_pretrained, dtype=torch.float32)
        model.hf_quantizer = None  # already dequantized: save plain weights, not a GGUF config
        if hasattr(model.config, "quantization_config"):
            delattr(model.config, "quantization_config")

        def save(tmp: str) -> None:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)

        _write_atomically(target, save)
    return target


def _gguf_tokenizer_dir(cfg: ModelConfig, source: str, cache_dir: str | Path) -> Path:
    """The full checkpoint if converted, else a tokenizer-only entry (a fraction of the cost)."""
    gguf, full = _gguf_entry(cfg, source, cache_dir)
    if full.is_dir():
        return full
    target = full.with_name(full.name + ".tokenizer")
    if not target.is_dir():
        tokenizer = _from_gguf(cfg, gguf, AutoTokenizer.from_pretrained)
        _write_atomically(target, tokenizer.save_pretrained)
    return target


def _gguf_entry(cfg: ModelConfig, source: str, cache_dir: str | Path) -> tuple[Path, Path]:
    """The GGUF file and its cache entry, keyed by content so a renamed copy reuses it."""
    gguf = _gguf_path(cfg, source)
    return gguf, _gguf_cache_root(cache_dir) / _sha256_16(gguf, cache_dir)


def _gguf_cache_root(cache_dir: str | Path) -> Path:
    return Path(cache_dir).expanduser() / "gguf"


def _sha256_16(path: Path, cache_dir: str | Path) -> str:
    """First 16 hex chars of the file's sha256, memoised by (path, size, mtime): hashing ~100 MB
    on every start would cost more than loading the cached checkpoint."""
    stat = path.stat()
    stamp = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    key = hashlib.sha256(stamp.encode()).hexdigest()[:16]
    sidecar = _gguf_cache_root(cache_dir) / "sha256" / key
    if sidecar.is_file():
        return sidecar.read_text()
    with path.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()[:16]
    with writing("GGUF hash cache entry", sidecar):
        sidecar.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(sidecar, lambda tmp: Path(tmp).write_text(digest))
    return digest


def _write_atomically(target: Path, write: Callable[[str], Any]) -> None:
    """Run `write` into a temp dir beside `target`, then rename that dir into place.

    A concurrent writer may win the rename; its result is equivalent, so ours is dropped. A failed
    write (a full disk) is one error naming the entry, its temp dir removed.
    """
    with writing("GGUF conversion cache entry", target):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            write(tmp)
            os.rename(tmp, target)
        except OSError:
            if not target.exists():
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
