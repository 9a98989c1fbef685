"""Building a run's parts from its validated config: data, the method's module, the Trainer.

In the order that fails fastest: data is read (bad data fails before the tokenizer loads) and
tokenized before the model, the slow part, loads. The benchmarks and tests build runs the same way.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from ptlab.config.schema import RunConfig
from ptlab.run.directory import RunDir
from ptlab.config.trainer import trainer_options


def build_data(run: RunConfig):
    """The task's DataModule, read (bad data fails here, before the tokenizer loads) and tokenized.

    The run's method (`data.method`, made with the DataModule): one that changes the prompt prepares it
    from the data before tokenization."""
    from ptlab.data.datamodule import TaskDataModule
    from ptlab.models.families import make_reader
    from ptlab.models.loading import load_tokenizer

    data = TaskDataModule(run)
    data.read()
    tokenizer = load_tokenizer(run.model, run.paths.cache_dir)
    data.reader = make_reader(run.model.family, tokenizer, run.task, data.kind.head(run.model.family))
    data.method.prepare(data)
    data.setup()
    return data


def build_run(run: RunConfig):
    """Data (read, then tokenized) and the method's module, in the order that fails fastest."""
    import lightning as L

    from ptlab.models.loading import load_model

    L.seed_everything(run.seed, workers=True, verbose=False)
    data = build_data(run)
    options = data.method.load_options()
    backbone = load_model(run.model, run.paths.cache_dir, data.reader.head, data.kind.num_labels(), **options)
    return data, build_module(run, data, backbone)


def build_module(run: RunConfig, data, backbone):
    """The shared LightningModule with `backbone` wrapped by the run's method."""
    from ptlab.run.method_module import MethodModule

    module = MethodModule(run, data.kind, data.reader, data.method, backbone)
    data.batches_trained = lambda: module.batches_trained  # where a resumed run's data continues
    return module


def build_trainer(cfg: DictConfig, run: RunConfig, out: RunDir, flag):
    import lightning as L
    from lightning.pytorch.callbacks import LearningRateMonitor, ProgressBar
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    from ptlab.run.checkpointing import AtomicCheckpointIO, PreemptionCheckpoint

    out = RunDir.of(out)

    loggers = [hydra.utils.instantiate(c) for c in (cfg.get("logger") or {}).values() if c]
    callbacks = [hydra.utils.instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c]
    if not loggers:  # logger=none: the LR monitor has nowhere to write (Lightning refuses to start)
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    if not run.trainer.get("enable_progress_bar", True):  # Lightning refuses a bar it was told not to show
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    callbacks.append(PreemptionCheckpoint(flag, out.last_ckpt))
    # ptlab owns requeue (ptlab/run/preemption.py), so Lightning's SLURM auto-requeue stays off;
    # ptlab's samplers shard the data per rank themselves (exact eval shards, resumable order).
    plugins = [AtomicCheckpointIO()] + ([SLURMEnvironment(auto_requeue=False)] if SLURMEnvironment.detect() else [])
    return L.Trainer(
        **trainer_options(run.trainer),
        callbacks=callbacks,
        logger=loggers or False,
        plugins=plugins,
        use_distributed_sampler=False,
        default_root_dir=str(out),
    )
