"""Hydra's refusal of `key=value` for a key the config lacks, said the way ptlab says it.

Hydra answers a typo such as `trainr.max_steps=3` with "To append to your config use
+trainr.max_steps=3": advice that only moves the error, since validation refuses the `+` form as
an unknown key. So the config Hydra had composed so far is validated with the key added, as the
`+` form would be: a key no schema knows gets the `+` form's own line (`unknown key trainr; did
you mean trainer?`), and only a key ptlab knows but the config does not set (`model.dtype`) keeps
the advice to add it with `+`.
"""

from __future__ import annotations

import re
from typing import Optional

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from ptlab.errors import ConfigError

REFUSED = re.compile(r"Could not override '(?P<key>[^']+)'\.\s*To append to your config use \+(?P<line>.+)", re.S)
UNKNOWN = "unknown key "  # how validation starts the line for a key no schema knows


def refused_override(err: BaseException) -> Optional[str]:
    """The one line for Hydra's "Could not override" error (`err`), or None for any other error."""
    found = REFUSED.match(str(err))
    node = getattr(err.__cause__, "parent_node", None)  # omegaconf's error: where the key was missing
    if not found or node is None:
        return None
    line = found["line"].strip()
    try:
        _validate_with(node._get_root(), line)
    except ConfigError as why:
        if str(why).startswith(UNKNOWN):
            return str(why)
    except Exception:  # noqa: BLE001 - any other complaint is about a value: the key itself is known
        pass
    return f"{found['key']} is not in the composed config; to add it, write +{line}"


def _validate_with(root, line: str) -> None:
    from ptlab.config.validation import validate

    cfg = OmegaConf.create(OmegaConf.to_container(root, resolve=False))  # a copy, open to new keys
    cfg.pop("hydra", None)
    OmegaConf.update(cfg, "paths.output_dir", ".")  # `${hydra:...}` resolves only inside Hydra's job
    override = OverridesParser.create().parse_override(line)
    OmegaConf.update(cfg, override.key_or_group, None if override.is_sweep_override() else override.value())
    validate(cfg)
