"""Typed configs: the schema of every group Hydra composes, with each group's own value checks.

ptlab/config/validation.py merges the composed YAML onto these dataclasses and runs the cross-field rules,
before any model is loaded.
"""

from __future__ import annotations

import signal as signal_module
import urllib.parse
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Dict, Optional


from ptlab.config import redaction
from ptlab.errors import ConfigError, positive
from ptlab.config.method import MethodConfig
from ptlab.config.task import TaskConfig

ROOT = Path(__file__).resolve().parents[2]


class Family(str, Enum):
    causal = "causal"  # decoder-only LM (GPT-2, Llama/SmolLM2)
    encoder = "encoder"  # encoder + classification head (BERT, RoBERTa, MiniLM)
    seq2seq = "seq2seq"  # encoder-decoder LM (T5)
    api = "api"  # a hosted LM behind an OpenAI-compatible /v1/completions endpoint (no local weights)


class DType(str, Enum):
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


class IfExists(str, Enum):
    """What to do when the run dir holds an earlier run. Nothing written is ever lost: whatever
    a new attempt would replace moves to attempts/<n>/ first."""

    resume = "resume"  # skip a completed run; continue an unfinished one from last.ckpt; else start
    refuse = "refuse"  # a completed run, or an unfinished one with a checkpoint, is an error
    rerun = "rerun"  # start over; the earlier attempt (record, checkpoints, predictions) is archived


class ApiCache(str, Enum):
    """How an API run uses its response cache (<paths.cache_dir>/api/): only usable completions are
    ever written, and an entry that is not one is asked again."""

    use = "use"  # answer from the cache where it holds the request; ask the server for the rest
    refresh = "refresh"  # ask the server every request again; its answers replace the entries
    off = "off"  # neither read nor write the cache


@dataclass
class ApiConfig:
    """An OpenAI-compatible `/v1/completions` endpoint (family api; ptlab/models/api.py).

    The key is never a config value (config values are written to the run dir): it is read from
    the environment variable named by `key_env` at request time, and sent as a Bearer token. So a
    base_url with `user:password@` and a key_env that is no variable name (a key, by mistake) are
    refused without being shown (ptlab/config/redaction.py).
    """

    base_url: str = "http://127.0.0.1:8000/v1"  # `/completions` is appended
    model: str = ""  # the model name the server knows (the request's `model`)
    key_env: str = "OPENAI_API_KEY"  # unset in the environment: requests go without a key
    concurrency: int = 4  # requests in flight at once
    timeout_s: float = 60.0  # per request (one attempt)
    max_retries: int = 5  # further attempts after a 429, a 5xx, a timeout or a dropped connection
    backoff_s: float = 1.0  # wait before retry n: backoff_s * 2**(n-1), or the server's Retry-After
    cache: ApiCache = ApiCache.use

    def check(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            shown = redaction.scrub(self.base_url)
            raise ConfigError(f"model.api.base_url must start with http:// or https://, got {shown!r}")
        url = urllib.parse.urlsplit(self.base_url)
        if "@" in url.netloc:  # user:password@host
            redaction.remember(url.password)
            raise ConfigError(
                f"model.api.base_url holds credentials ({redaction.scrub(self.base_url)}), which ptlab neither "
                f"sends nor writes: put the key in an environment variable and name it with model.api.key_env"
            )
        if not self.model:
            raise ConfigError("model.api.model is empty: set it to the model name the server serves")
        if not self.key_env.isidentifier() or redaction.looks_secret(self.key_env):
            redaction.remember(self.key_env)
            raise ConfigError(
                "model.api.key_env must name the environment variable that holds the key (e.g. OPENAI_API_KEY), "
                "not hold the key: the value given is no variable name (not shown, in case it is a key)"
            )
        positive("model.api.concurrency", self.concurrency)
        positive("model.api.timeout_s", self.timeout_s)
        if self.max_retries < 0:
            raise ConfigError(f"model.api.max_retries must be >= 0, got {self.max_retries}")
        if self.backoff_s < 0:
            raise ConfigError(f"model.api.backoff_s must be >= 0, got {self.backoff_s}")


@dataclass
class ModelConfig:
    """Where weights and tokenizer come from, and which family of head/scorer applies."""

    name: str
    family: Family
    # A hub id, a local directory, or (with `package`) a path inside an installed pip package.
    pretrained: str
    package: Optional[str] = None
    gguf_file: Optional[str] = None  # a GGUF file inside `pretrained`; dequantized once, then cached
    revision: Optional[str] = None
    # Tiny test models: keep `pretrained`'s tokenizer, build weights randomly from this config.
    random_config: Optional[Dict[str, Any]] = None
    trust_remote_code: bool = False
    dtype: DType = DType.float32
    # Recompute activations in backward instead of keeping them (ptlab/models/training_memory.py).
    gradient_checkpointing: bool = False
    # A Hub token for gated or private models; unset, the Hub reads HF_TOKEN from the environment.
    # Redacted everywhere a config is written (see ptlab/config/redaction.py).
    hub_token: Optional[str] = None
    api: Optional[ApiConfig] = None  # family api only: the endpoint (its `pretrained` is just a name)

    def check(self) -> None:
        if self.family == Family.api:
            if self.api is None:
                raise ConfigError(f"model {self.name}: family api needs model.api (see conf/model/api.yaml)")
            self.api.check()
        elif self.api is not None:
            raise ConfigError(
                f"model {self.name}: model.api is for family api only; this model's family is {self.family.value}"
            )


@dataclass
class DataConfig:
    source: str = "auto"  # auto (local files when a data dir is set, else hub) | hub | local
    k: Optional[int] = None  # few-shot: k training examples, sampled with the run's seed
    k_per_class: Optional[int] = None  # few-shot: k training examples per class
    cap_k: bool = False  # k (per class) larger than the training set (class): take all (results.json: data)
    eval_limit: Optional[int] = None  # validation subset (same subset for every run)
    test_limit: Optional[int] = None
    subset_seed: int = 1234  # fixed across runs so every method is scored on the same examples
    batch_size: int = 8
    eval_batch_size: int = 16
    num_workers: int = 0
    group_by_length: bool = True  # training batches of similar lengths: less padding

    def check(self) -> None:
        if self.source not in ("auto", "hub", "local"):
            raise ConfigError(f"data.source must be auto, hub or local, got {self.source!r}")
        for key in ("k", "k_per_class", "eval_limit", "test_limit"):
            if getattr(self, key) is not None:
                positive(f"data.{key}", getattr(self, key))
        positive("data.batch_size", self.batch_size)
        positive("data.eval_batch_size", self.eval_batch_size)


@dataclass
class DecodeConfig:
    num_beams: int = 1  # 1 = greedy
    # Greedy rows stop decoding where their prediction ends (newline, task.stop, eos); false decodes
    # to task.max_target_length and cuts after, the same predictions, slower (for comparison).
    stop_early: bool = True
    # A stop sequence before the prediction's first non-space character: false reads past it (the
    # answer on the next line); true ends the prediction there, at "" (lm-eval's `until`, the
    # OpenAI API's `stop`): for numbers comparable with lm-eval's (ptlab/models/ending.py).
    stop_at_start: bool = False

    def check(self) -> None:
        positive("decode.num_beams", self.num_beams)

    def ending(self, stops):
        """Where this run's predictions end, given the task's stop sequences."""
        from ptlab.models.ending import Ending

        return Ending(tuple(stops), self.stop_at_start)


@dataclass
class PathsConfig:
    output_dir: str
    data_dir: Optional[str] = None
    cache_dir: str = "~/.cache/ptlab"
    log_dir: str = "outputs"


@dataclass
class PreemptionConfig:
    """The preemption signal and SIGTERM save a checkpoint at the next step; ptlab owns requeue."""

    signal: str = "USR1"  # what SLURM sends before the time limit (sbatch --signal=USR1@<s>)
    requeue: bool = True  # on `signal` inside a SLURM job: scontrol requeue this job
    max_requeues: int = 5  # compared with SLURM_RESTART_COUNT

    @property
    def signame(self) -> str:
        """The signal's name without the SIG prefix (USR1 for usr1, SIGUSR1)."""
        return self.signal.upper().removeprefix("SIG")

    def check(self) -> None:
        if not hasattr(signal_module, f"SIG{self.signame}"):
            raise ConfigError(f"preemption.signal={self.signal!r} is not a signal name (e.g. USR1, USR2)")
        if self.max_requeues < 0:
            raise ConfigError(f"preemption.max_requeues must be >= 0, got {self.max_requeues}")


@dataclass
class ReportConfig:
    """The comparison table a multirun ends with (ptlab-report over the sweep dir)."""

    margin: float = 1.0  # equivalence margin, in points of the numbers shown (x100 for a [0, 1] metric)

    def check(self) -> None:
        if not self.margin > 0:
            raise ConfigError(f"report.margin={self.margin} must be a positive number of points")


@dataclass
class RunConfig:
    """The validated, typed view of one run; what the rest of ptlab consumes."""

    model: ModelConfig
    method: MethodConfig
    task: TaskConfig
    data: DataConfig
    decode: DecodeConfig
    paths: PathsConfig
    trainer: Dict[str, Any]
    preemption: PreemptionConfig = field(default_factory=PreemptionConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    seed: int = 0
    name: str = "default"
    if_exists: IfExists = IfExists.resume
    verbose: bool = False


@dataclass
class ScalarsConfig:
    """The top-level scalar keys of RunConfig, typed on their own."""

    seed: int = 0
    name: str = "default"
    if_exists: IfExists = IfExists.resume
    verbose: bool = False  # library logs and warnings on the console too, not only in the run's log
