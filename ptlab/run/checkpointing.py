"""The training-loop side of preemption: checkpoint at a step boundary, then stop.

The checkpoint is taken where Lightning itself checkpoints, so its loop state restores exactly:
after a training step, or, when that step is followed by a validation, after the validation
(and after the best/last checkpoints of that validation). A resumed run then continues as an
uninterrupted one would: weights, optimizer, scheduler, data position, RNG, best so far.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.trainer.states import TrainerFn

from ptlab.errors import RunDirError
from ptlab.run.preemption import Preempted, SignalFlag, signum
from ptlab.run.record import atomic_write


class CheckpointWriteError(RunDirError):
    """A checkpoint could not be written (a full disk, a read-only dir); the previous one is kept."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written like every other run file: temp file beside the target, fsync, rename.

    Lightning's own save goes through an fsspec transaction whose temp file lives in the system
    temp dir and is *moved* across filesystems, so a full disk mid-save leaves a truncated
    last.ckpt that every later resume trips over. Here a failed save leaves the previous
    checkpoint as it was and no partial file.
    """

    def save_checkpoint(self, checkpoint: Dict[str, Any], path, storage_options: Optional[Any] = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        target = Path(path)
        try:
            atomic_write(target, lambda tmp: _save(checkpoint, tmp))
        except (OSError, RuntimeError) as err:  # torch reports a short write as a RuntimeError
            cause = next((e for e in _chain(err) if isinstance(e, OSError)), err)
            kept = "the previous one is kept" if target.exists() else "there was none before"
            raise CheckpointWriteError(
                f"could not write checkpoint {target}: {getattr(cause, 'strerror', None) or cause} ({kept}); "
                f"free space or fix the directory, then run the same command to resume"
            ) from err


def _save(checkpoint: Dict[str, Any], path: str) -> None:
    with open(path, "wb") as f:  # a Python file: a full disk surfaces as OSError(ENOSPC)
        torch.save(checkpoint, f)


def _chain(err: BaseException):
    while err is not None:
        yield err
        err = err.__cause__ or err.__context__


def validation_or_accumulation_due(trainer) -> bool:
    """Whether the batch that just ended (called from `on_train_batch_end`) is not a step boundary
    Lightning checkpoints at: gradients are still being accumulated, or a validation runs next.

    A checkpoint taken there would not resume exactly (half-accumulated gradients are not saved;
    the validation and its best/last checkpoints would be skipped), so the preemption checkpoint
    waits for the next boundary. Lightning has no public API for this; these are the private
    names its own training epoch loop decides with, checked on Lightning 2.6.6 (constraints.txt).
    tests/test_checkpointing.py fails when an upgrade renames them or changes what they answer.
    """
    loop = trainer.fit_loop.epoch_loop
    return loop._should_accumulate() or loop._should_check_val_fx(trainer.fit_loop._data_fetcher)


class PreemptionCheckpoint(Checkpoint):
    """Saves last.ckpt and stops at the first step boundary after a signal (all ranks agree).

    A `Checkpoint` subclass, so Lightning runs it after the ModelCheckpoint callbacks.
    """

    def __init__(self, flag: SignalFlag, checkpoint: Path):
        self.flag, self.checkpoint = flag, checkpoint

    def on_train_start(self, trainer, pl_module):
        self.flag.install()  # Lightning registered its own SIGTERM handler as fit started

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if validation_or_accumulation_due(trainer):
            return  # mid-accumulation, or a validation is due first: stop after it instead
        self._stop_if_signalled(trainer, pl_module, step_logged=False)

    def on_validation_end(self, trainer, pl_module):
        if trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking:
            self._stop_if_signalled(trainer, pl_module)

    def _stop_if_signalled(self, trainer, pl_module, step_logged: bool = True) -> None:
        received = self.flag.received
        if trainer.world_size > 1:  # one rank's signal stops every rank at the same step
            code = torch.tensor([signum(received) if received else 0], device=pl_module.device)
            torch.distributed.all_reduce(code, op=torch.distributed.ReduceOp.MAX)
            received = signal.Signals(int(code)).name.removeprefix("SIG") if int(code) else None
        if received:
            if not step_logged:  # Lightning logs a step's metrics after on_train_batch_end, which the stop skips
                trainer._logger_connector.update_train_step_metrics()  # so metrics.csv keeps every step
            trainer.save_checkpoint(self.checkpoint)
            raise Preempted(received, trainer.global_step, self.checkpoint)
