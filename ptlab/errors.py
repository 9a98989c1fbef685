"""One exception type per kind of bad input, so the CLI can print one clear line and exit non-zero."""

import difflib
from typing import Iterable


class PtlabError(Exception):
    """Bad input the user can fix; the message names the offending key, file or line."""


class ConfigError(PtlabError):
    """A config value or combination that cannot work."""


class NotApplicable(ConfigError):
    """A method that does not apply to a model (zero-shot needs an LM head); a sweep skips it."""


class DataError(PtlabError):
    """A data directory, file, column, label or split that cannot be used."""


class ModelError(PtlabError):
    """A model directory, GGUF file or Hub repo that cannot be loaded as configured."""


class ApiError(PtlabError):
    """An API model's endpoint refused a request, or kept failing it through every retry."""


class RunDirError(PtlabError):
    """A run directory that must not be written to (it holds a completed run)."""


class DivergedError(PtlabError):
    """The training loss became NaN or infinite."""


def did_you_mean(name: str, known: Iterable[str], prefix: str = "") -> str:
    """`; did you mean <prefix><closest>?`, or the known names when none is close (for a typo's error)."""
    known = list(known)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean {prefix}{close[0]}?" if close else f"; known: {sorted(known)}"


def positive(key: str, value: int) -> None:
    """Raise a ConfigError naming `key` unless value > 0."""
    if not value > 0:
        raise ConfigError(f"{key} must be > 0, got {value}")
