"""GGUF checkpoints: the file (local or downloaded, checked), and its conversion cache.

transformers dequantizes a GGUF file slowly (tens of seconds, most of it parsing the metadata), so
each file is converted once and kept as a plain HF checkpoint under `<cache_dir>/gguf/<sha256[:16]>/`;
a tokenizer-only load converts just the tokenizer into `<sha256[:16]>.tokenizer/`. Every entry is
written to a temp dir and renamed into place, so an interrupted conversion leaves no half entry.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import tempfile
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch
from huggingface_hub import hf_hub_download
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from ptlab.run.cache_files import writing
from ptlab.config.schema import Family, ModelConfig
from ptlab.errors import ConfigError, ModelError
from ptlab.models.load_errors import hub_error, one_line
from ptlab.run.record import atomic_write

_T = TypeVar("_T")


def hub_token(cfg: ModelConfig) -> dict[str, str]:
    """`token=` only when model.hub_token is set; unset, the Hub reads HF_TOKEN itself."""
    return {"token": cfg.hub_token} if cfg.hub_token else {}


def gguf_path(cfg: ModelConfig, source: str) -> Path:
    """The GGUF file, local or downloaded, checked to start with the GGUF magic bytes."""
    if Path(source).is_dir():
        path = Path(source) / cfg.gguf_file
        if not path.is_file():
            raise ConfigError(f"model {cfg.name}: GGUF file model.gguf_file={str(path)!r} does not exist")
    else:
        try:
            file = hf_hub_download(source, cfg.gguf_file, revision=cfg.revision, **hub_token(cfg))
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


def from_gguf(cfg: ModelConfig, gguf: Path, load: Callable[..., _T], **kwargs: Any) -> _T:
    """`load` from a GGUF file; one transformers cannot parse (cut short, an architecture it
    does not support) becomes a ModelError naming it."""
    try:
        return load(gguf.parent, gguf_file=gguf.name, **kwargs)
    except (ValueError, struct.error) as err:
        raise ModelError(
            f"model {cfg.name}: transformers could not read the GGUF file {gguf} "
            f"({gguf.stat().st_size} bytes; a partial download?): {one_line(err)}"
        ) from err


def gguf_model_dir(cfg: ModelConfig, source: str, cache_dir: str | Path) -> Path:
    """The dequantized checkpoint (model + tokenizer), converted on first use."""
    gguf, target = _gguf_entry(cfg, source, cache_dir)
    if not target.is_dir():
        tokenizer = AutoTokenizer.from_pretrained(gguf_tokenizer_dir(cfg, source, cache_dir))
        # T5 GGUFs convert as seq2seq; every other supported architecture as a causal LM.
        auto = AutoModelForSeq2SeqLM if cfg.family == Family.seq2seq else AutoModelForCausalLM
        model = from_gguf(cfg, gguf, auto.from_pretrained, dtype=torch.float32)
        model.hf_quantizer = None  # already dequantized: save plain weights, not a GGUF config
        if hasattr(model.config, "quantization_config"):
            delattr(model.config, "quantization_config")

        def save(tmp: str) -> None:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)

        _write_atomically(target, save)
    return target


def gguf_tokenizer_dir(cfg: ModelConfig, source: str, cache_dir: str | Path) -> Path:
    """The full checkpoint if converted, else a tokenizer-only entry (a fraction of the cost)."""
    gguf, full = _gguf_entry(cfg, source, cache_dir)
    if full.is_dir():
        return full
    target = full.with_name(full.name + ".tokenizer")
    if not target.is_dir():
        tokenizer = from_gguf(cfg, gguf, AutoTokenizer.from_pretrained)
        _write_atomically(target, tokenizer.save_pretrained)
    return target


def _gguf_entry(cfg: ModelConfig, source: str, cache_dir: str | Path) -> tuple[Path, Path]:
    """The GGUF file and its cache entry, keyed by content so a renamed copy reuses it."""
    gguf = gguf_path(cfg, source)
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
