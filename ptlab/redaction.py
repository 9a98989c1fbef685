"""Secrets never written anywhere: config values under secret-looking keys, and the values of
secret-looking `key=value` arguments, are replaced wherever ptlab writes or prints them (config.yaml,
results.json, run dir names, Hydra's multirun.yaml, W&B, error lines)."""

from __future__ import annotations

import re
from typing import Any

# hf_token, access_token, wandb_api_key, client_secret, password; not num_virtual_tokens.
SECRET_KEY = re.compile(r"(^|[_.-])(api[_-]?key|token|secret|password|passwd)$", re.IGNORECASE)
REDACTED = "<redacted>"


def redact(node: Any) -> Any:
    """The config with every value under a secret-looking key replaced."""
    if isinstance(node, dict):
        return {k: REDACTED if SECRET_KEY.search(str(k)) else redact(v) for k, v in node.items()}
    if isinstance(node, list):
        return [redact(v) for v in node]
    return node


def redact_override(override: str) -> str:
    """`key=value` from the command line, the value redacted when the key looks like a secret."""
    key, _, value = str(override).partition("=")
    return f"{key}={REDACTED}" if SECRET_KEY.search(key.lstrip("+~")) else str(override)


def secret_values(args) -> list:
    """The values of secret-looking `key=value` arguments (comma-separated sweep values too)."""
    found = []
    for arg in args:
        key, sep, value = str(arg).partition("=")
        if sep and value and SECRET_KEY.search(key.lstrip("+~")):
            found += [value, *value.split(",")]
    return sorted({v for v in found if v}, key=len, reverse=True)


def scrub(text: str, args) -> str:
    """`text` with every secret value given in `args` replaced (for messages that echo input)."""
    for value in secret_values(args):
        text = text.replace(value, REDACTED)
    return text
