"""Batch order that a resumed run can pick up exactly, and eval shards with no duplicates.

A requeued job must see the same batches in the same order as an uninterrupted one, so the
training order is a pure function of (seed, epoch) and the number of batches already trained,
which the checkpoint records. Lightning restores it through the loader's `state_dict` protocol.
Under DDP each rank takes its slice of every global batch; evaluation shards are disjoint (no
padding with repeats, which would skew the metrics a comparison rests on). Given row lengths,
training batches are length-grouped (less padding), still from (seed, epoch) alone; evaluation
batches are length-sorted within each shard and carry their split indices (`Indexed`), so
predictions go back in split order.
"""

from __future__ import annotations

import math
import random
from typing import Callable, Iterator, List, Optional, Sequence

from torch.utils.data import BatchSampler, DataLoader, Dataset, Sampler


class ResumableShuffle(Sampler[int]):
    """This rank's indices for one epoch, in an order that comes from (seed, epoch) alone.

    Lightning calls `set_epoch`; a resumed run sets `resume_at` (batches trained before it
    started) and its first epoch skips the batches already trained. With `lengths` (one per
    row), global batches hold rows of similar length: see `_grouped`.
    """

    MEGABATCH = 50  # at most this many global batches sorted together (the HF Trainer's cap)

    def __init__(
        self,
        size: int,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world: int = 1,
        lengths: Optional[Sequence[int]] = None,
    ):
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.rank, self.world = rank, world
        self.lengths = lengths
        self.epoch = 0
        self.resume_at = 0
        self.batches = math.ceil(size / (batch_size * world))  # per epoch

    def __len__(self) -> int:
        return self.size if self.world == 1 else self.batches * self.batch_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        skip = min(max(self.resume_at - self.epoch * self.batches, 0), self.batches)
        self.resume_at = 0  # later epochs start from their beginning
        order = list(range(self.size))
        rng = random.Random(f"{self.seed}:{self.epoch}")
        rng.shuffle(order)
        step = self.batch_size * self.world
        if self.lengths is not None:
            order = self._grouped(order, rng, step)
        if self.world > 1:  # every rank needs a full batch: wrap the last global batch around
            order += order[: self.batches * step - self.size]
        for start in range(skip * step, self.batches * step, step):
            lo = start + self.rank * self.batch_size
            yield from order[lo : lo + self.batch_size]

    def _grouped(self, order: List[int], rng: random.Random, step: int) -> List[int]:
        """Length grouping after the HF Trainer's LengthGroupedSampler: the shuffled order is cut
        into megabatches of up to 50 global batches, and at most a quarter of the epoch (so a small
        few-shot set still gets different batches per seed and epoch), each sorted longest first,
        so a global batch pads little. The whole global batches are then shuffled (same RNG, so
        still a function of (seed, epoch)) so training sees no length trend, and the one holding
        the longest row goes first, so a run meets its peak memory at its first step. A partial
        last batch stays last: the loader cuts batches from the flat order, so a short batch
        mid-epoch would shift every later one."""
        mega = max(min(self.size // (4 * step), self.MEGABATCH), 1) * step
        order = [
            i
            for m in range(0, self.size, mega)
            for i in sorted(order[m : m + mega], key=self.lengths.__getitem__, reverse=True)
        ]
        whole = self.size - self.size % step
        batches = [order[b : b + step] for b in range(0, whole, step)]
        rng.shuffle(batches)
        if batches:
            longest = max(range(len(batches)), key=lambda b: max(map(self.lengths.__getitem__, batches[b])))
            batches.insert(0, batches.pop(longest))
        return [i for batch in batches for i in batch] + order[whole:]


class ResumableLoader(DataLoader):
    """A DataLoader Lightning saves and restores (the `state_dict` / `load_state_dict` protocol).

    The state is the number of batches trained, read from the module at save time: the loader
    itself runs ahead of training by Lightning's prefetch, so its own count would be off. A
    loader used outside a ptlab DataModule has no such count and restarts its epoch.
    """

    def __init__(self, dataset, sampler: ResumableShuffle, trained: Callable[[], Optional[int]], **kwargs):
        super().__init__(dataset, batch_sampler=BatchSampler(sampler, sampler.batch_size, drop_last=False), **kwargs)
        self._trained = trained

    def state_dict(self) -> dict:
        trained = self._trained()
        return {} if trained is None else {"batches_trained": trained}

    def load_state_dict(self, state: dict) -> None:
        self.batch_sampler.sampler.resume_at = state.get("batches_trained", 0)


class ShardBatches(Sampler[List[int]]):
    """Rank r of w evaluates examples r, r+w, r+2w, ... (disjoint shards that cover the split), in
    batches of similar prompt length, longest first.

    Batches in the split's order pad to their longest row (on SST-2 dev at batch 16, 40 % of
    the positions); sorted, a batch pads little, as lm-eval's sorted requests do. Longest first:
    a batch size too large for memory fails at once, not at the end. Ties keep split order.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, rank: int = 0, world: int = 1):
        shard = sorted(range(rank, len(lengths), world), key=lambda i: -lengths[i])
        self.batches = [shard[b : b + batch_size] for b in range(0, len(shard), batch_size)]

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[List[int]]:
        return iter(self.batches)


class Indexed(Dataset):
    """A split whose rows carry their index in it (`index`): the collate passes it on in the batch."""

    def __init__(self, rows):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        return {**self.rows[i], "index": i}

    def __getitems__(self, indices: List[int]) -> List[dict]:  # one Arrow read per batch, as the split's own
        return [{**row, "index": i} for i, row in zip(indices, self.rows.__getitems__(indices))]


def with_index(collate: Callable[[List[dict]], dict], rows: List[dict]) -> dict:
    """`collate`'s batch of `rows` (an `Indexed` split's), with their split indices as `index`."""
    return {**collate(rows), "index": [row["index"] for row in rows]}
