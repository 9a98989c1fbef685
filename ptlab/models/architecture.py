"""What a model is, read torch-free before it loads: config.json's keys (model_type, bias
switches) from a tiny model's random_config, a local dir, the Hub cache, or a GGUF file's header.
Methods ask it in `not_applicable_to`, so a sweep skips a point that cannot run instead of failing
it after loading."""

import importlib.util
import json
import struct
from pathlib import Path
from typing import Optional


def architecture(model) -> dict:
    """What is known of `model`'s config.json without torch ({} when nothing is)."""
    if model.random_config:
        return dict(model.random_config)
    folder = Path(model.pretrained).expanduser()
    if model.package:
        spec = importlib.util.find_spec(model.package)  # finds without importing it
        folder = Path(spec.origin).parent / model.pretrained if spec and spec.origin else folder
    if model.gguf_file:
        kind = gguf_architecture(folder / model.gguf_file)
        return {"model_type": kind} if kind else {}
    path = folder / "config.json"
    if not folder.is_dir():
        from huggingface_hub import try_to_load_from_cache

        path = try_to_load_from_cache(model.pretrained, "config.json", revision=model.revision)
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (TypeError, OSError, ValueError):
        return {}


def gguf_architecture(path: Path) -> Optional[str]:
    """`general.architecture` from a GGUF header, where llama.cpp writes it: the first key/value
    (a string, type 8). None if the file is missing or orders its keys otherwise."""
    try:
        with open(path, "rb") as f:
            magic, _version, _tensors, _keys = struct.unpack("<4sIQQ", f.read(24))
            (length,) = struct.unpack("<Q", f.read(8))
            key = f.read(length)
            kind, size = struct.unpack("<IQ", f.read(12))
            value = f.read(size)
    except (OSError, struct.error):
        return None
    if magic != b"GGUF" or key != b"general.architecture" or kind != 8:
        return None
    return value.decode("utf-8", "replace")
