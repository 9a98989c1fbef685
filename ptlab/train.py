"""`ptlab-train`: the command line around `train()`, and what a person sees when something fails.

Hydra composes the config; each failure becomes one `ptlab: error:` line naming the key, file or
line (another library's error too, named by type and first line), a non-zero exit, and nothing
left behind that the run did not write: no empty run dir, no secret echoed. In a sweep a failed
point is recorded and the others go on; `PTLAB_DEBUG=1` shows tracebacks.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Dict, Optional, Union

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from ptlab.run import library_output
from ptlab.config import redaction, resolvers, tuning
from ptlab.config.schema import ROOT
from ptlab.errors import ConfigError, NotApplicable, PtlabError
from ptlab.hydra_callbacks import SweepReport
from ptlab.run.record import SCHEMA_VERSION, now, write_json
from ptlab.run.directory import RunDir
from ptlab.run.execution import command_line, redacted_overrides, train
from ptlab.config.typos import refused_override

resolvers.register()  # before Hydra composes (here, and in a submitit job that unpickles this module)

_failures: list = []
# Either set to 1: errors show their traceback. main() sets HYDRA_FULL_ERROR for Hydra itself,
# marked as its own so that the processes it starts (DDP ranks, submitit jobs) do not take it
# for the user's wish.
OWN_FULL_ERROR = "PTLAB_SET_HYDRA_FULL_ERROR"
DEBUG = os.environ.get("PTLAB_DEBUG", "0") not in ("", "0") or (
    os.environ.get("HYDRA_FULL_ERROR", "0") not in ("", "0") and OWN_FULL_ERROR not in os.environ
)


@hydra.main(version_base="1.3", config_path=str(ROOT / "conf"), config_name="train")
def _hydra_main(cfg: DictConfig) -> Union[Dict[str, Any], float, None]:
    record = _job(cfg)
    # The Optuna sweeper (hparams_search=optuna) takes a number: the selection split's score.
    sweeper = HydraConfig.get().sweeper
    if str(sweeper.get("_target_", "")).endswith("OptunaSweeper"):
        return tuning.objective(record, sweeper.direction)
    return record


def _job(cfg: DictConfig) -> Optional[Dict[str, Any]]:
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    out = Path(HydraConfig.get().runtime.output_dir)
    try:
        return train(cfg)
    except KeyboardInterrupt:  # Ctrl-C stops a sweep too; a run that wrote nothing leaves no dir
        _remove_empty_dirs(out, _log_dir(cfg))
        raise
    except Exception as err:  # noqa: BLE001 - one failed sweep point must not stop the others
        _remove_empty_dirs(out, _log_dir(cfg))
        if multirun and isinstance(err, NotApplicable):  # e.g. zero-shot x encoder: the report says n/a
            print(f"ptlab: skipped, not applicable: {err}", file=sys.stderr)
            return None
        if DEBUG:
            traceback.print_exc()
        print(f"ptlab: error: {_scrubbed(_one_line(err, out))}", file=sys.stderr)
        if not multirun:
            sys.exit(1)
        if isinstance(err, ConfigError) and not RunDir(out).results.exists():
            _record_invalid(cfg, out, err)  # a sweep point whose values fail validation is a failed run
        _failures.append(_scrubbed(f"{out}: {type(err).__name__}: {err}"))
        return None  # results.json records the failure; the sweep goes on


def _one_line(err: Exception, out: Optional[Path] = None) -> str:
    """ptlab's own errors say what to do; anything else is named by type and first line, with
    where to find the whole story (never another library's advice spread over 50 lines)."""
    if isinstance(err, PtlabError):
        return str(err)
    if isinstance(err, OSError) and err.filename:
        hint = (
            " (set paths.log_dir or PTLAB_LOG_DIR to a writable directory with free space)"
            if err.errno in (errno.EROFS, errno.EACCES, errno.ENOSPC)
            else ""
        )
        return f"{err.strerror}: {err.filename}{hint}"
    first = next((line.strip() for line in str(err).splitlines() if line.strip()), "")
    results = RunDir(out).results if out else None
    where = f"the traceback is in {results}; " if results and results.exists() else ""
    return f"{type(err).__name__}: {first} ({where}PTLAB_DEBUG=1 prints it)"


def _log_dir(cfg: DictConfig) -> Path:
    return Path(str(OmegaConf.select(cfg, "paths.log_dir", default="outputs", throw_on_resolution_failure=False)))


def _remove_empty_dirs(out: Path, log_dir: Path) -> None:
    """Hydra makes the run dir before ptlab sees the config: a run that wrote nothing leaves none."""
    stop = log_dir.resolve()
    path = out.resolve()
    while path != stop and stop in path.parents:
        try:
            path.rmdir()  # only ever an empty directory
        except OSError:
            return
        path = path.parent


def _record_invalid(cfg: DictConfig, out: Path, err: Exception) -> None:
    keys = {
        "name": "name",
        "model": "model.name",
        "method": "method.name",
        "task": "task.name",
        "seed": "seed",
        "family": "model.family",
    }
    identity = {k: OmegaConf.select(cfg, v, default=None, throw_on_resolution_failure=False) for k, v in keys.items()}
    write_json(
        RunDir(out).results,
        {
            "schema_version": SCHEMA_VERSION,
            "status": "failed",
            "error": _scrubbed(f"{type(err).__name__}: {err}"),
            **identity,
            "overrides": redacted_overrides(),
            "run_dir": str(out),
            "started_at": now(),
            "finished_at": now(),
        },
    )


def main() -> None:
    """Console script `ptlab-train` (same as `python -m ptlab.train`)."""
    # Hydra re-raises what fails outside a job (composition, an override that does not parse, a
    # run dir it cannot create) instead of printing its traceback; ptlab prints one line.
    if "HYDRA_FULL_ERROR" not in os.environ or OWN_FULL_ERROR in os.environ:
        os.environ.update({"HYDRA_FULL_ERROR": "1", OWN_FULL_ERROR: "1"})
    if not DEBUG:
        library_output.hold()  # a sweeper's warnings go to the next run's ptlab.log
    try:
        _hydra_main()
    except KeyboardInterrupt as err:  # Ctrl-C: one line (a run's says how to resume), exit 130 as a shell does
        print(f"ptlab: {str(err) or 'interrupted'}", file=sys.stderr)
        _forget_where_it_landed()
        sys.exit(130)
    except Exception as err:  # noqa: BLE001 - the job's own errors were handled in _hydra_main
        if DEBUG:
            raise
        err = _own(err)
        plain = not isinstance(err, PtlabError) and not getattr(err, "filename", None)
        detail = refused_override(err) or (
            " ".join(str(err).split("Config search path")[0].split()) if plain else _one_line(err)
        )
        print(f"ptlab: error: {_scrubbed(detail)}", file=sys.stderr)
        sys.exit(1)
    failed = _failures or SweepReport.unfinished
    if failed:
        print(f"ptlab: {len(failed)} run(s) of the sweep did not complete:", *failed, sep="\n  ", file=sys.stderr)
        sys.exit(1)


def _forget_where_it_landed() -> None:
    """CPython 3.11 remembers a KeyboardInterrupt that ended an `exec` of a string (a dataclass's
    generated `__init__`, a namedtuple: imports make many) even once it is caught, and `python -m`
    then dies by SIGINT instead of exiting 130. Running a string through `exec` clears that flag
    (`run_eval_code_obj` resets `_Py_UnhandledKeyboardInterrupt` before each such run)."""
    exec("pass")


def _own(err: Exception) -> Exception:
    """The ptlab error inside `err` when OmegaConf wrapped one (a resolver naming the run dir raised it)."""
    cause = err
    while cause is not None and not isinstance(cause, PtlabError):
        cause = cause.__cause__ or cause.__context__
    return cause or err


def _scrubbed(text: str) -> str:
    return redaction.scrub(text, command_line() + sys.argv[1:])


if __name__ == "__main__":
    main()
