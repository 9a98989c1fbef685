"""Plug-in discovery shared by the task-kind and method registries: a plug-in is a subclass of the
registry's base class, defined in a module of the registry's package, with a non-empty `name`.

Defining the class is the registration, so adding a kind or a method touches no list elsewhere.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Dict, Iterable

from ptlab.errors import ConfigError, did_you_mean


def discover(package: str, path: Iterable[str], base: type) -> Dict[str, type]:
    """name -> class for every plug-in defined in the modules of `package`."""
    found = {}
    for info in pkgutil.iter_modules(path):
        module = importlib.import_module(f"{package}.{info.name}")
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, base) and obj.name and obj.__module__ == module.__name__:
                found[obj.name] = obj
    return found


def lookup(found: Dict[str, type], name: object, key: str) -> type:
    """The plug-in called `name`; otherwise a ConfigError naming `key` and the closest names."""
    if name not in found:
        raise ConfigError(f"unknown {key}={name!r}{did_you_mean(str(name), found, f'{key}=')}")
    return found[name]
