"""The DataModule every method shares: seeded few-shot draws, fixed eval subsets, grouped
multi-reference evaluation, a tokenization cache that a second run reuses, length-grouped
training batches that resume exactly, and length-sorted eval batches that know their split indices."""

import math
import random

import pytest
from torch.utils.data import BatchSampler

from ptlab.data.datamodule import TaskDataModule
from ptlab.data.sampling import ResumableShuffle, ShardBatches
from ptlab.kinds import kind_of
from ptlab.models.families import make_reader
from ptlab.models.loading import load_tokenizer


def _data(run, shared_cache):
    data = TaskDataModule(run)
    data.read()
    data.reader = make_reader(
        run.model.family, load_tokenizer(run.model, shared_cache), run.task, data.kind.head(run.model.family)
    )
    data.setup()
    return data


def _prompts(data, split):
    return [row["prompt"] for row in data.splits[split]]


def test_second_run_reads_tokenized_splits_from_the_cache(compose_run, shared_cache):
    overrides = (
        "model=tiny-bert",
        "method=full_finetune",
        "task=rte",
        "data.k=32",
        "data.eval_limit=20",
        "data.test_limit=20",
    )
    first = _data(compose_run(*overrides), shared_cache)
    second = _data(compose_run(*overrides), shared_cache)
    assert first.cache_hits == {"train": False, "validation": False, "test": False}
    assert second.cache_hits == {"train": True, "validation": True, "test": True}
    assert list(first.splits["train"]) == list(second.splits["train"])
    other_template = compose_run(*overrides, "task.template=follows")
    assert _data(other_template, shared_cache).cache_hits == {"train": False, "validation": False, "test": False}


@pytest.mark.slow
def test_few_shot_draws_follow_the_seed_and_eval_subsets_do_not(compose_run, shared_cache):
    runs = [
        compose_run(
            "model=tiny-bert",
            "method=full_finetune",
            f"seed={s}",
            "data.k_per_class=4",
            "data.eval_limit=50",
            "data.test_limit=50",
        )
        for s in (0, 0, 1)
    ]
    a, b, c = (_data(r, shared_cache) for r in runs)
    assert _prompts(a, "train") == _prompts(b, "train") != _prompts(c, "train")
    assert sorted(row["label"] for row in a.splits["train"]) == [0] * 4 + [1] * 4
    assert _prompts(a, "validation") == _prompts(c, "validation")  # every run scores the same 50
    assert len(a.splits["validation"]) == 50


def test_generation_eval_groups_references_by_meaning_representation(compose_run, shared_cache):
    run = compose_run("model=tiny-llama", "method=zero_shot", "task=e2e_nlg")
    data = _data(run, shared_cache)
    rows = data.splits["validation"]
    assert len(rows) == 547  # E2E dev: 4,672 rows of 547 meaning representations, 151 repeating
    assert sum(len(r["references"]) for r in rows) == 4521  # a reference another row repeats (same MR) counts once
    assert rows[0]["prompt"].startswith("Table: name[") and rows[0]["prompt"].endswith("\nText:")


def test_cache_key_ignores_the_tokenizers_truncation_state_and_differs_per_tokenizer(compose_run, shared_cache):
    run = compose_run("model=tiny-llama", "method=prompt_tuning", "data.k=8", "data.eval_limit=8", "data.test_limit=8")
    tokenizer = load_tokenizer(run.model, shared_cache)
    before = TaskDataModule(run, _reader(run, tokenizer))._tokenizer_fingerprint
    tokenizer("an earlier encode leaves truncation set", truncation=True, max_length=3)
    after = TaskDataModule(run, _reader(run, tokenizer))._tokenizer_fingerprint
    assert before == after
    bert = compose_run("model=tiny-bert", "method=prompt_tuning")
    other = TaskDataModule(bert, _reader(bert, load_tokenizer(bert.model, shared_cache)))
    assert other._tokenizer_fingerprint != before


def _reader(run, tokenizer):
    return make_reader(run.model.family, tokenizer, run.task, kind_of(run.task).head(run.model.family))


def _pad_fraction(loader) -> float:
    """Padded share of all positions in one epoch of a loader's batches."""
    masks = [batch["attention_mask"] for batch in loader]
    return 1 - sum(int(m.sum()) for m in masks) / sum(m.numel() for m in masks)


def _sst2_train(compose_run, shared_cache, *overrides):
    return _data(
        compose_run("model=tiny-llama", "method=full_finetune", "data.k=512", "data.batch_size=8", *overrides),
        shared_cache,
    )


@pytest.mark.slow
def test_length_grouping_is_a_seeded_permutation_that_pads_far_less(compose_run, shared_cache):
    grouped = _sst2_train(compose_run, shared_cache)
    plain = _sst2_train(compose_run, shared_cache, "data.group_by_length=false")
    by_length, shuffled = grouped.train_dataloader(), plain.train_dataloader()
    sampler = by_length.batch_sampler.sampler
    assert shuffled.batch_sampler.sampler.lengths is None
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        shuffled.batch_sampler.sampler.set_epoch(epoch)
        assert sorted(sampler) == list(range(512))
        order = list(range(512))
        random.Random(f"0:{epoch}").shuffle(order)
        assert list(shuffled.batch_sampler.sampler) == order  # off: the order of before grouping existed
    twin = ResumableShuffle(512, 8, 0, lengths=sampler.lengths)
    twin.set_epoch(1)
    assert list(twin) == list(sampler)
    twin.set_epoch(0)
    assert list(twin) != list(sampler)
    # The batch holding the epoch's longest row comes first (a run meets its peak memory at
    # step 0), and a few-shot set's batches differ in content between seeds, not only in order.
    first = list(twin)[:8]
    assert max(sampler.lengths[i] for i in first) == max(sampler.lengths)
    contents = [
        {frozenset(b) for b in BatchSampler(ResumableShuffle(64, 8, seed, lengths=sampler.lengths[:64]), 8, False)}
        for seed in (0, 1)
    ]
    assert contents[0] != contents[1]

    for s in (sampler, shuffled.batch_sampler.sampler):
        s.set_epoch(0)
    with_grouping, without = _pad_fraction(by_length), _pad_fraction(shuffled)
    print(
        f"SST-2 train[512], batch 8, tiny-llama tokenizer: padding fraction {with_grouping:.3f} "
        f"grouped, {without:.3f} plain shuffle"
    )
    assert with_grouping < 0.5 * without


@pytest.mark.slow
@pytest.mark.parametrize("world", [1, 2])
def test_a_resumed_length_grouped_epoch_yields_the_tail_of_the_full_one(compose_run, shared_cache, world):
    lengths = _sst2_train(compose_run, shared_cache).train_dataloader().batch_sampler.sampler.lengths[:500]

    def batches(rank, epoch, resume_at=0):  # 500 rows: a partial last batch (world 1), wrap-around (world 2)
        sampler = ResumableShuffle(500, 8, 3, rank, world, lengths)
        sampler.set_epoch(epoch)
        sampler.resume_at = resume_at
        return list(BatchSampler(sampler, 8, drop_last=False))

    per_epoch = math.ceil(500 / (8 * world))
    for rank in range(world):
        for epoch in (0, 1):
            full = batches(rank, epoch)
            assert len(full) == per_epoch and all(len(b) == 8 for b in full[:-1])
            for n in (1, 7, per_epoch - 1, per_epoch):
                assert batches(rank, epoch, epoch * per_epoch + n) == full[n:]
    if world == 2:  # the two ranks' slices cover the epoch
        assert {i for r in range(2) for b in batches(r, 0) for i in b} == set(range(500))


def test_eval_batches_are_length_sorted_shards_that_carry_their_split_indices(compose_run, shared_cache):
    data = _data(compose_run("model=tiny-llama", "method=zero_shot", "task=sst2"), shared_cache)
    rows = data.splits["validation"]
    lengths = [len(ids) for ids in rows["prompt_ids"]]
    batches = list(data.val_dataloader())
    order = [i for batch in batches for i in batch["index"]]
    assert sorted(order) == list(range(len(rows))) == list(range(872))
    assert [lengths[i] for i in order] == sorted(lengths, reverse=True)  # longest first; ties in split order
    assert all(batch["prompt"] == [rows[i]["prompt"] for i in batch["index"]] for batch in batches)
    for world in (2, 3):  # DDP shards as before (rank r: r, r+w, ...), each sorted on its own
        for rank in range(world):
            shard = [i for batch in ShardBatches(lengths, 16, rank, world) for i in batch]
            assert sorted(shard) == list(range(rank, len(rows), world))

    def padding(batches):
        return 1 - sum(lengths) / sum(len(b) * max(lengths[i] for i in b) for b in batches)

    in_order = [list(range(b, min(b + 16, len(rows)))) for b in range(0, len(rows), 16)]
    grouped, before = padding(ShardBatches(lengths, 16)), padding(in_order)
    print(f"SST-2 dev, eval batch 16: padding fraction {grouped:.3f} length-sorted, {before:.3f} in split order")
    assert grouped < 0.1 * before
