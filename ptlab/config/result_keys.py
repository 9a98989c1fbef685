"""The config keys a run's result does not depend on: the config fingerprint (ptlab/run/fingerprint.py)
leaves them out, and only these may read a secret (ptlab/config/redaction.py). A module of its own so
that both can read it without importing each other.
"""

# Keys that do not change what a run computes: where things go, how they are shown or logged,
# what to do with an existing dir, secrets, how an API model is reached (not which: base_url and
# model count), where the data comes from (the data fingerprint says what was read), where it
# runs (like the run dir's name, which leaves out accelerator/devices), and the seed (kept apart,
# so seeds share a config).
IGNORED = (
    "paths",
    "if_exists",
    "verbose",
    "seed",
    "name",
    "logger",
    "callbacks",
    "preemption",
    "model.hub_token",
    "model.api.key_env",
    "model.api.concurrency",
    "model.api.timeout_s",
    "model.api.max_retries",
    "model.api.backoff_s",
    "model.api.cache",
    "data.source",
    "data.num_workers",
    "trainer.accelerator",
    "trainer.devices",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "trainer.log_every_n_steps",
)
