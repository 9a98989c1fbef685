"""Shared test set-up: no network, the real data in ../shared/data, configs composed by Hydra."""

import os
from pathlib import Path

import pytest

pytest_plugins = ["slurm_cluster"]  # the session fixture slurm_cluster: a real single-host SLURM cluster

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before huggingface_hub is first imported
if os.environ.get("PYTEST_XDIST_WORKER"):
    # The suite runs on every core (setup.cfg: pytest-xdist), one test per core: each worker and the
    # ptlab processes it starts compute on one thread. Two-thread torch ops on a core another worker
    # holds wait on each other (measured: a MiniLM prompt-tuning run 4x slower, the whole suite 55 min
    # against 66 serial); set before torch is first imported, and inherited by the subprocesses.
    for threads in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(threads, "1")

from cli import FULL_DATA, REAL_DATA  # noqa: E402 - after the environment above

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def full_data_dir() -> Path:
    """The real data dir as it is: for the tests of the files themselves."""
    if not (FULL_DATA / "sst2").is_dir():
        pytest.skip(f"real datasets not found at {FULL_DATA} (set PTLAB_DATA_DIR)")
    return FULL_DATA


@pytest.fixture(scope="session")
def data_dir(full_data_dir) -> Path:
    """The real data, SST-2's training file cut to its first rows (tests/small_data.py)."""
    return REAL_DATA


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """One model/tokenization cache for the in-process tests of a session."""
    return tmp_path_factory.mktemp("ptlab-cache")


@pytest.fixture
def compose_run(data_dir, shared_cache, tmp_path):
    """Compose conf/train.yaml with overrides, as ptlab-train would, and validate it."""
    from hydra import compose, initialize_config_dir

    from ptlab.config import resolvers
    from ptlab.config.validation import validate

    resolvers.register()

    def _compose(*overrides: str):
        fixed = [
            f"paths.data_dir={data_dir}",
            f"paths.cache_dir={shared_cache}",
            f"paths.output_dir={tmp_path / 'run'}",
        ]
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            return validate(compose("train", overrides=[*overrides, *fixed]))

    return _compose


@pytest.fixture(scope="session")
def cli_cache(tmp_path_factory) -> Path:
    """PTLAB_CACHE_DIR for every CLI subprocess of the session, so SmolLM2's GGUF tokenizer and
    weights are converted at most once per test run."""
    path = tmp_path_factory.getbasetemp() / "ptlab-cli-cache"
    path.mkdir(exist_ok=True)
    return path
