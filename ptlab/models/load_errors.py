"""Why a model could not be loaded, as one line naming the dir or file and the fix.

transformers' own messages run to several lines and sometimes blame the wrong thing (an empty
dir gets "You need to have sentencepiece or tiktoken installed"), so a failure is explained
from the files where they show the cause, and from the library's message only otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import transformers
from huggingface_hub import is_offline_mode, try_to_load_from_cache
from transformers import CONFIG_MAPPING

from ptlab.config.schema import ModelConfig
from ptlab.errors import ConfigError, ModelError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")  # what save_pretrained writes


def load_error(cfg: ModelConfig, source: str, part: str, err: Exception) -> ModelError:
    """Why transformers could not load the `part` (tokenizer or model), read off the files."""
    where = f"model {cfg.name}: {source} (model.pretrained)"
    folder = Path(source)
    present = {p.name for p in folder.iterdir()} if folder.is_dir() else None
    no_tokenizer = present is not None and not present & set(TOKENIZER_FILES)
    if present is not None and "config.json" not in present and (part == "model" or no_tokenizer):
        return ModelError(
            f"{where} has no config.json, so it is not a model saved with save_pretrained (it "
            f"holds {sorted(present)[:10] or 'nothing'}); point model.pretrained at such a "
            f"directory or a Hub id"
        )
    if present is None:  # a hub id: transformers has put its config.json in the HF cache
        config = _json_object(try_to_load_from_cache(source, "config.json", revision=cfg.revision))
    else:
        config = _json_object(folder / "config.json")
    if "auto_map" in config and not cfg.trust_remote_code:
        return ModelError(
            f"{where} ships its own model code (auto_map in its config.json), which ptlab does "
            f"not run unless told to: if you trust that code, set model.trust_remote_code=true "
            f"(it runs the repository's Python code on this machine)"
        )
    model_type = config.get("model_type")
    if model_type and model_type not in CONFIG_MAPPING and "auto_map" not in config:
        return ModelError(
            f"{where}: model_type {model_type!r} in its config.json is not known to transformers "
            f"{transformers.__version__}, and the model ships no code of its own (no auto_map): "
            f"upgrade transformers, or correct model_type"
        )
    if part == "tokenizer" and no_tokenizer:
        return _no_tokenizer_files(where, TOKENIZER_FILES)
    return ModelError(f"{where}: transformers could not load the {part}: {one_line(err)}")


def empty_vocab_error(cfg: ModelConfig, source: str, tokenizer: Any) -> ModelError | None:
    """transformers 5 builds a tokenizer with an empty vocabulary (every word [UNK]) from a dir
    holding none of the files its class reads, which would train on noise without a word."""
    names = sorted(set(type(tokenizer).vocab_files_names.values()))
    if not names or any((Path(source) / name).is_file() for name in names):
        return None
    return _no_tokenizer_files(f"model {cfg.name}: {source} (model.pretrained)", names)


def _no_tokenizer_files(where: str, names: Sequence[str]) -> ModelError:
    return ModelError(
        f"{where} has no tokenizer files (none of {', '.join(names)}); save the tokenizer there "
        f"too (tokenizer.save_pretrained)"
    )


def _json_object(path: Any) -> dict[str, Any]:
    """The JSON object in the file at `path`, else {} (the HF cache answers None for a miss)."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (TypeError, OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def one_line(err: Exception) -> str:
    """A library's message, often several lines long, as at most 300 characters on one line."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 300 else text[:299] + "…"


def hub_error(cfg: ModelConfig, source: str, err: OSError) -> ConfigError:
    """A hub id that could not be fetched: offline and not cached, or the Hub said no."""
    if is_offline_mode():
        return ConfigError(
            f"model {cfg.name}: '{source}' is not a local directory and could not be loaded "
            f"offline (HF_HUB_OFFLINE=1 and it is not in the Hugging Face cache). Set "
            f"model.pretrained to a local directory, or go online (unset HF_HUB_OFFLINE) to "
            f"download it once."
        )
    return ConfigError(f"model {cfg.name}: could not load '{source}' from the Hugging Face Hub: {one_line(err)}")
