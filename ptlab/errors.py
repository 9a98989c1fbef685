"""One exception type per kind of bad input, so the CLI can print one clear line and exit non-zero."""


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


class RunDirError(PtlabError):
    """A run directory that must not be written to (it holds a completed run)."""


class DivergedError(PtlabError):
    """The training loss became NaN or infinite."""
