"""Two keys of one YAML mapping that Python reads as one key are a config error, not a lost entry.

PyYAML keeps the last of two equal keys, and OmegaConf's loader refuses only two identical string
keys: `{0: neg, 0: pos}`, `{true: a, 1: b}` (True == 1) or `{1: a, 1.0: b}` would each drop an
entry without a word (in `task.label_values`, a class). `install()` makes the loader behind
OmegaConf.load, and so every config file Hydra composes, refuse them, naming the file, the line
and the key's path in the file.

The same loader reads booleans as YAML 1.2 (and Hydra's command line) do: only true/false. YAML
1.1's yes/no/on/off stay words, so `label_values: {true: yes, false: no}` maps a JSON boolean to the
labels "yes" and "no", as written; a typed boolean field still takes yes/no (OmegaConf converts).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Set

import re

import yaml
from omegaconf import _utils

from ptlab.errors import ConfigError

MERGE = "tag:yaml.org,2002:merge"  # `<<: *anchor`, which PyYAML merges itself
BOOL = "tag:yaml.org,2002:bool"
YAML12_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")


def install() -> None:
    """Wrap OmegaConf's YAML loader (once; OmegaConf.load looks it up on each call)."""
    if not getattr(_utils.get_yaml_loader, "ptlab_strict", False):
        _utils.get_yaml_loader = _strict(_utils.get_yaml_loader)


def _strict(get_loader: Callable[[], Any]) -> Callable[[], Any]:
    def get_strict_loader() -> Any:
        base = get_loader()

        class StrictKeysLoader(base):
            yaml_implicit_resolvers = {
                first: [(tag, YAML12_BOOL if tag == BOOL else regexp) for tag, regexp in resolvers]
                for first, resolvers in base.yaml_implicit_resolvers.items()
            }

            def construct_document(self, node: yaml.Node) -> Any:
                _check(node, "", self.construct_object, set())
                return super().construct_document(node)

        return StrictKeysLoader

    get_strict_loader.ptlab_strict = True
    return get_strict_loader


def _check(node: yaml.Node, path: str, construct: Callable[[yaml.Node], Any], seen: Set[int]) -> None:
    """Refuse two keys of a mapping under `node` that construct to equal Python values."""
    if id(node) in seen:  # an alias met again
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check(item, f"{path}[{i}]", construct, seen)
    if not isinstance(node, yaml.MappingNode):
        return
    keys: Dict[Any, yaml.Node] = {}
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag != MERGE:
            key = construct(key_node)
            first = keys.setdefault(key, key_node)
            if first is not key_node:
                line = key_node.start_mark.line + 1
                earlier = f" (line {first.start_mark.line + 1})" if first.start_mark.line + 1 != line else ""
                raise ConfigError(
                    f"{key_node.start_mark.name}:{line}: {path or 'the top level'} has the keys {first.value!r}"
                    f"{earlier} and {key_node.value!r}, which YAML reads as one key ({construct(first)!r} == "
                    f"{key!r}): one entry would be dropped silently; keep one"
                )
        _check(value_node, f"{path}.{key_node.value}" if path else str(key_node.value), construct, seen)
