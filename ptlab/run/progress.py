"""ptlab's training progress on the console (conf/callbacks/default.yaml): a tqdm bar on a terminal,
a line every tenth of the run elsewhere (SLURM logs, pipes), one line per validation; and, in the
run's ptlab.log, when each evaluation begins.
"""

from __future__ import annotations

import sys
import time
from typing import Optional

from lightning.pytorch.callbacks.progress.progress_bar import ProgressBar
from lightning.pytorch.trainer.states import TrainerFn

from ptlab.run.console import duration, log_only


class RunProgress(ProgressBar):
    """Lightning's progress bar for ptlab: training steps with loss and tokens/s, one line per
    validation (with the best so far), and evaluation batches on a terminal.

    On a terminal the steps are a tqdm bar; elsewhere (SLURM logs, pipes, tests) a line every tenth
    of the run, so a log of a 2000-step run has about ten of them.
    """

    def __init__(self) -> None:
        super().__init__()
        self.enabled = True
        self.bar = None  # tqdm, on a terminal: training steps
        self.eval_bar = None
        self.total = self.every = self.shown = self.first = 0
        self.started = 0.0
        self.best: Optional[float] = None

    def disable(self) -> None:
        self.enabled = False

    def enable(self) -> None:
        self.enabled = True

    def _write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=sys.stdout)  # above the bar, which is redrawn below
        else:
            print(line, flush=True)

    def on_train_start(self, trainer, pl_module) -> None:
        if not self.enabled:
            return
        self.total = trainer.max_steps if trainer.max_steps > 0 else int(trainer.estimated_stepping_batches)
        self.every = max(1, self.total // 10)
        self.shown = self.first = trainer.global_step
        self.started = time.perf_counter()
        best = trainer.checkpoint_callback.best_model_score if trainer.checkpoint_callback else None
        self.best = None if best is None else float(best)  # a resumed run's earlier validations count
        if sys.stdout.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=self.total, initial=self.first, desc="train", unit="step", file=sys.stdout, dynamic_ncols=True
            )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if not self.enabled or step == self.shown:  # gradient accumulation: no optimizer step yet
            return
        self.shown = step
        loss = trainer.progress_bar_metrics.get("train/loss")
        stats = [f"loss {loss:.4f}"] if loss is not None else []
        if pl_module.train_seconds:
            stats.append(f"{pl_module.train_tokens / pl_module.train_seconds:.0f} tok/s")
        if self.bar is not None:
            self.bar.set_postfix_str(", ".join(stats), refresh=False)
            self.bar.update(step - self.bar.n)
        elif step % self.every == 0 or step == self.total:
            elapsed = time.perf_counter() - self.started
            stats.append(f"{duration(elapsed)} elapsed")
            if step < self.total:
                stats[-1] += f", ~{duration(elapsed / (step - self.first) * (self.total - step))} left"
            self._write(f"  step {step}/{self.total}: " + ", ".join(stats))

    def on_train_end(self, trainer, pl_module) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _eval_start(self, trainer, what: str, total) -> None:
        if not trainer.sanity_checking:
            log_only(f"{what}: scoring {total} batch{'' if total == 1 else 'es'}")  # ptlab.log's timeline of the run
        if self.enabled and sys.stdout.isatty() and not trainer.sanity_checking:
            from tqdm import tqdm

            self.eval_bar = tqdm(
                total=total,
                desc=what,
                unit="batch",
                file=sys.stdout,
                leave=False,
                dynamic_ncols=True,
                position=1 if self.bar is not None else 0,
            )

    def _eval_batch(self) -> None:
        if self.eval_bar is not None:
            self.eval_bar.update(1)

    def _eval_end(self) -> None:
        if self.eval_bar is not None:
            self.eval_bar.close()
            self.eval_bar = None

    def on_validation_start(self, trainer, pl_module) -> None:
        self._eval_start(trainer, "val", sum(trainer.num_val_batches))

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._eval_batch()

    def on_validation_end(self, trainer, pl_module) -> None:
        self._eval_end()
        if not self.enabled or trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return  # the scoring after training is summed up by the results line
        step, values = pl_module.last_val
        main = pl_module.run.task.main_metric
        better = max if pl_module.kind.metrics[main].higher_is_better else min  # the metric's own direction
        self.best = values[main] if self.best is None else better(self.best, values[main])
        shown = ", ".join(f"{k} {v:.4f}" for k, v in values.items())
        self._write(f"  val at step {step}/{self.total}: {shown} (best {main} so far {self.best:.4f})")

    def on_test_start(self, trainer, pl_module) -> None:
        self._eval_start(trainer, "test", sum(trainer.num_test_batches))

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._eval_batch()

    def on_test_end(self, trainer, pl_module) -> None:
        self._eval_end()
