"""validation_or_accumulation_due, which reads Lightning's private loop state, against what a real
Trainer then does: a Lightning upgrade that renames or changes those internals fails here, not as
a preempted run that silently resumes inexactly (tests/test_resume.py covers the whole path)."""

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from ptlab.run.checkpointing import validation_or_accumulation_due

BATCHES = 7  # per epoch: odd, so an epoch ends on a half-filled accumulation window


class Tiny(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).pow(2).mean()

    def validation_step(self, batch, batch_idx):
        pass

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Record(L.Callback):
    """Per training batch: the function's answer, and what the Trainer then did."""

    def __init__(self):
        self.batches = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.step_before = trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.batches.append(
            {
                "epoch": trainer.current_epoch,
                "batch": batch_idx,
                "due": validation_or_accumulation_due(trainer),
                "stepped": trainer.global_step > self.step_before,
                "validated_after": False,
            }
        )

    def on_validation_start(self, trainer, pl_module):
        self.batches[-1]["validated_after"] = True


def test_due_exactly_mid_accumulation_or_before_a_validation():
    data = DataLoader(TensorDataset(torch.randn(BATCHES, 2)), batch_size=1)
    record = Record()
    trainer = L.Trainer(
        max_epochs=2,
        accumulate_grad_batches=2,
        val_check_interval=3,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        callbacks=[record],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=1,
    )
    trainer.fit(Tiny(), train_dataloaders=data, val_dataloaders=DataLoader(TensorDataset(torch.randn(1, 2))))

    assert len(record.batches) == 2 * BATCHES
    for batch in record.batches:  # due = not a step boundary Lightning itself would checkpoint at
        assert batch["due"] == (not batch["stepped"] or batch["validated_after"]), batch
    # each epoch: 0, 2, 4 mid-accumulation (batch 6 ends the epoch, so it steps), 2 and 5 before a validation
    due = [(b["epoch"], b["batch"]) for b in record.batches if b["due"]]
    assert due == [(epoch, i) for epoch in (0, 1) for i in (0, 2, 4, 5)]
