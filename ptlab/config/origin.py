"""Where a config key's value was set, for an error about it: "the command line", or the config
group's YAML file that Hydra composed (a user's `--config-dir` included), so that the message
names the file to open and not only the key.
"""

from __future__ import annotations

from pathlib import Path


def origin(key: str) -> str:
    """` (set on the command line)`, ` (in <file>)`, or "" outside a Hydra run or where unknown.

    An override naming `key` or a key above it set it (a group choice such as `task=rte` picks a
    file instead); else the file is the group's choice in the first search-path directory that
    holds it, the one Hydra read. An override's value is not repeated: it may be a secret."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return ""
    hydra = HydraConfig.get()
    choices = hydra.runtime.choices
    for override in hydra.overrides.task:
        name = override.partition("=")[0].lstrip("+~")
        if name not in choices and (key == name or key.startswith(f"{name}.")):
            return " (set on the command line)"
    group = key.split(".")[0]
    choice = choices.get(group)
    for source in hydra.runtime.config_sources if choice else []:
        path = Path(source.path) / group / f"{choice}.yaml"
        if source.schema == "file" and path.is_file():
            return f" (in {path})"
    return ""
