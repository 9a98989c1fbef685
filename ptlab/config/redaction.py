"""Secrets never written anywhere: one place that knows every secret of this process.

Secrets are the values of environment variables read through `${oc.env:...}` (ptlab's resolver
records each one; PUBLIC_ENV lists the few that only say where things go), values under
secret-looking keys (hub_token, api_key, password, ...), the userinfo of a URL (`user:pass@`),
and anything shaped like a provider's API key (`sk-...`, `hf_...`), in whatever field it was
passed. Every writer and printer of configs, records, overrides and errors goes through `redact`,
`redact_override` or `scrub` (config.yaml, results.json, ptlab.log, the console, run dir names,
Hydra's multirun.yaml and .hydra files, W&B).

A secret is replaced, never hashed (a hash of a short password can be reversed by guessing), so two
values that differ only in a secret would look alike: a key whose value changes the result or
names the run dir may therefore not hold one at all (`recordable` refuses it), and only keys that
change neither (hub_token, logger, trainer.accelerator, ...) read secrets from the environment.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any, Callable, Iterable, Iterator, List, Tuple

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue
from omegaconf.resolvers import oc

from ptlab.errors import ConfigError
from ptlab.config.result_keys import IGNORED

# hf_token, access_token, wandb_api_key, client_secret, password; not num_virtual_tokens.
SECRET_KEY = re.compile(r"(^|[_.-])(api[_-]?key|token|secret|password|passwd)$", re.IGNORECASE)
REDACTED = "<redacted>"
# Variables that say where things go or who runs, read by the shipped configs: not secrets. (Any
# other variable read into paths.* is: set such a path in plain text, or through these.)
PUBLIC_ENV = frozenset(
    {"PTLAB_LOG_DIR", "PTLAB_DATA_DIR", "PTLAB_CACHE_DIR", "WANDB_PROJECT", "WANDB_ENTITY", "HOME", "USER", "TMPDIR"}
)
# A key that names an environment variable (model.api.key_env): a value that is no name is a key
# passed in the wrong field.
NAMES_A_VARIABLE = re.compile(r"(^|[_.-])env$", re.IGNORECASE)
USERINFO = re.compile(r"(?<=://)[^/?#@\s]+@")
# OpenAI, Hugging Face, GitHub, Slack and AWS access keys: a key in the wrong field is still a key.
KEY_LIKE = re.compile(
    r"\b(?:sk-[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{30,}|gh[pousr]_[A-Za-z0-9]{30,}|xox[abprs]-[A-Za-z0-9-]{10,}"
    r"|AKIA[0-9A-Z]{16})\b"
)
MIN_SCRUB = 4  # shorter secrets are replaced where they stand, not searched for in text ("1" is everywhere)

_secrets: set = set()
_env_reads: List[str] = []  # every non-public variable read, in order (see `reading_env`)


def remember(*values: Any) -> None:
    """Add secret values, to be replaced in everything written or printed from now on."""
    _secrets.update(str(v) for v in values if v is not None and str(v))


def env(key: str, *default: Any) -> Any:
    """`${oc.env:KEY[,default]}` as OmegaConf's, recording the variable's value as a secret."""
    value = oc.env(key, *default)
    if key in os.environ and key not in PUBLIC_ENV:
        _env_reads.append(key)
        remember(value)
    return value


def reading_env(resolve: Callable[[], Any]) -> Tuple[Any, List[str]]:
    """`resolve()` and the non-public environment variables it read (resolvers are not cached)."""
    start = len(_env_reads)
    value = resolve()
    return value, _env_reads[start:]


def looks_secret(text: str) -> bool:
    """Whether `text` holds a URL's userinfo or something shaped like an API key."""
    return bool(USERINFO.search(text) or KEY_LIKE.search(text))


def scrub(text: str, args: Iterable[str] = ()) -> str:
    """`text` with every known secret replaced: URL userinfo, API-key shapes, the values of this
    process's secrets and of secret-looking `key=value` arguments in `args`."""
    text = KEY_LIKE.sub(REDACTED, USERINFO.sub(REDACTED + "@", str(text)))
    for value in sorted(_secrets.union(secret_values(args)), key=len, reverse=True):
        if len(value) >= MIN_SCRUB:
            text = text.replace(value, REDACTED)
    return text


def secret_under(key: str, value: Any) -> bool:
    """Whether `value` is a secret by where it stands: under a secret-looking key, or under a key
    naming an environment variable while being no variable name (a key given in its place)."""
    key = str(key).lstrip("+~")
    if SECRET_KEY.search(key):
        return True
    return bool(NAMES_A_VARIABLE.search(key)) and isinstance(value, str) and not value.isidentifier()


def redact(node: Any) -> Any:
    """The config with every value under a secret-looking key replaced, and secrets scrubbed from
    every other string."""
    if isinstance(node, dict):
        hidden = {k for k, v in node.items() if secret_under(k, v)}
        remember(*(node[k] for k in hidden if isinstance(node[k], (str, int, float))))
        return {k: REDACTED if k in hidden else redact(v) for k, v in node.items()}
    if isinstance(node, list):
        return [redact(v) for v in node]
    return scrub(node) if isinstance(node, str) else node


def scrubbed(node: Any) -> Any:
    """`node` (JSON-like) with secrets scrubbed from every string in it, keys too; unlike `redact`,
    nothing is replaced for its key's name (a record's or a cache's fields are not config keys)."""
    if isinstance(node, dict):
        return {scrubbed(k): scrubbed(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [scrubbed(v) for v in node]
    return scrub(node) if isinstance(node, str) else node


def redact_override(override: str) -> str:
    """`key=value` from the command line, the value redacted when the key looks like a secret,
    any other secret scrubbed."""
    key, _, value = str(override).partition("=")
    if secret_under(key, value):
        remember(value, *value.split(","))
        return f"{key}={REDACTED}"
    return scrub(override)


def secret_values(args) -> list:
    """The values of secret-looking `key=value` arguments (comma-separated sweep values too)."""
    found = []
    for arg in args:
        key, sep, value = str(arg).partition("=")
        if sep and value and secret_under(key, value):
            found += [value, *value.split(",")]
    return sorted({v for v in found if v}, key=len, reverse=True)


def recordable(cfg: DictConfig) -> dict:
    """The resolved config as ptlab writes it (config.yaml, W&B, the fingerprint): values read from
    the environment and under secret-looking keys redacted. A key that changes the result or names
    the run dir must not hold a secret (redacted, two runs would look alike): a ConfigError says so."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for path, names in _from_env(cfg):
        key = ".".join(map(str, path))
        if not may_hold_secret(key):
            raise ConfigError(
                f"{key} takes its value from the environment ({', '.join(names)}); ptlab treats environment "
                f"values as secrets and writes none, but {key} {_why_recorded(key)}: give the value itself"
            )
        _place(resolved, path, REDACTED)
    for key, value in _leaves(resolved):
        if isinstance(value, str) and looks_secret(value) and not may_hold_secret(key):
            raise ConfigError(
                f"{key} holds a credential (a URL's user:password@ or an API key; not shown); ptlab never "
                f"writes one and {key} {_why_recorded(key)}: pass keys through the environment (model.api.key_env)"
            )
    return redact(resolved)


def may_hold_secret(key: str) -> bool:
    """Keys that change neither the result nor the run dir's name (result_keys.IGNORED less the
    run dir's parts): only these may read secrets."""
    from ptlab.run.directory import RUN_DIR_KEYS

    return key not in RUN_DIR_KEYS and any(key == k or key.startswith(k + ".") for k in IGNORED)


def _why_recorded(key: str) -> str:
    from ptlab.run.directory import RUN_DIR_KEYS

    return "names the run directory" if key in RUN_DIR_KEYS else "changes the result, so it is recorded"


def _from_env(node, path: tuple = ()) -> Iterator[Tuple[tuple, List[str]]]:
    """The paths of the values that read a non-public environment variable when resolved (an
    interpolation is followed through other keys: `${name}` reads what name reads)."""
    for key in node.keys() if isinstance(node, DictConfig) else range(len(node)):
        try:
            if OmegaConf.is_interpolation(node, key):
                _, names = reading_env(lambda: node[key])
                if names:
                    yield (*path, key), names
            elif isinstance(node[key], (DictConfig, ListConfig)):
                yield from _from_env(node[key], (*path, key))
        except MissingMandatoryValue:
            continue


def _place(container: Any, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        container = container[key]
    container[path[-1]] = value


def _leaves(node: Any, prefix: str = "") -> Iterator[Tuple[str, Any]]:
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else None
    if items is None:
        yield prefix, node
        return
    for key, value in items:
        yield from _leaves(value, f"{prefix}.{key}" if prefix else str(key))


class Scrubbing(logging.Filter):
    """A log handler's filter: every record's message and traceback with secrets scrubbed."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a library's bad format arguments: its handler reports them
            return True
        record.msg, record.args = scrub(message), None
        if record.exc_info:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
