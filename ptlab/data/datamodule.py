"""The LightningDataModule every task uses: a task is a YAML file, not a class.

Reading, subset selection, tokenization and batching are the same for every method on a task, so
a comparison sees the same examples in the same form; what differs between kinds of task, the
DataModule asks the task's kind (ptlab/kinds/). Tokenized splits are cached on disk, keyed by the
examples' content, the tokenizer, the task config and the kind's and family's encoding versions;
the cache (token_cache.py) checks an entry holds exactly that before serving it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import random
import re
from collections import defaultdict
from functools import cached_property
from importlib.metadata import version
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import datasets
import lightning as L
import pyarrow as pa
import pyarrow.compute as pc
import torch
from torch.utils.data import DataLoader

from ptlab.config.schema import RunConfig
from ptlab.data.carve import carve, overlap_stats, texts_of, without, words
from ptlab.data.sampling import Indexed, ResumableLoader, ResumableShuffle, ShardBatches, with_index
from ptlab.data.example import Example
from ptlab.data.sources import declared_splits, load_split, resolve_data_dir
from ptlab.data.token_cache import TokenCache
from ptlab.errors import DataError
from ptlab.run.fingerprint import data_files
from ptlab.kinds import TaskKind, kind_of
from ptlab.methods import method_class
from ptlab.models import prompt_fit
from ptlab.models.family_reader import FamilyReader

log = logging.getLogger(__name__)
datasets.disable_progress_bars()  # ptlab's console shows the run's progress, not a bar per cached split
# Bump when the cache's own layout changes (a kind's or family's encoding has its version). 3: manifests;
# 4: every row's truncation flags.
CACHE_FORMAT = 4
# Task fields that do not shape the encoded rows: where the data comes from and how it is scored.
NOT_ENCODING = ("name", "hub", "local", "metrics", "main_metric")


class TaskDataModule(L.LightningDataModule):
    def __init__(self, run: RunConfig, reader: Optional[FamilyReader] = None, kind: Optional[TaskKind] = None):
        super().__init__()
        self.run = run
        self.kind = kind or kind_of(run.task)
        self.method = method_class(run.method.name)(run, self.kind)  # the run's (build_data prepares it)
        self.reader = reader  # may be set after read(): reading needs no tokenizer
        # How many batches the model has trained on (a resumed run's loader skips them); the
        # LightningModule that counts them is set here by build_run, not looked up on the trainer.
        self.batches_trained: Callable[[], Optional[int]] = lambda: None
        self.cache = TokenCache(Path(os.path.expanduser(run.paths.cache_dir)) / "tokenized")
        self._carves = Path(os.path.expanduser(run.paths.cache_dir)) / "carve"  # carves, overlap counts (carve.py)
        self.raw: Dict[str, List[Example]] = {}
        self.splits: Dict[str, datasets.Dataset] = {}
        self.cache_hits: Dict[str, bool] = {}
        # Per encoded split: prompts, how many were cut to max_source_length, answers lost (setup)
        self.truncation: Dict[str, Dict[str, Any]] = {}
        self.origins: Dict[str, str] = {}  # split -> the file (or hub split) it was read from
        self.dropped: Dict[str, int] = {}  # split -> examples left out because test has their inputs
        self.selection: dict = {}  # the selection split's overlap with the pool, lengths (carve.py)

    # --- reading (before any model loads, so bad data fails fast) ---
    def read(self) -> None:
        task, data = self.run.task, self.run.data
        data_dir = resolve_data_dir(self.run.paths.data_dir)
        needed = ["train", "validation"] if self.method.reads_train() else ["validation"]
        carved = task.validation_from_train
        available = declared_splits(task) + (["validation"] if carved else [])
        for split in needed:
            if split not in available:
                raise DataError(f"task {task.name} declares no '{split}' split (task.local.files / task.hub.splits)")
        loaded = {
            split: load_split(task, split, data.source, data_dir)
            for split in declared_splits(task)
            if split in needed or split == "test" or (carved and split == "train")
        }
        self.origins = {split: _origin(examples[0].where) for split, examples in loaded.items()}
        self._hold_out(loaded)
        for split in ("train", "validation", "test"):
            if split in loaded:
                self.raw[split] = self._select(split, loaded[split])
        self.selection["words"] = words(self.raw, texts_of(task))

    def _hold_out(self, loaded: Dict[str, List[Example]]) -> None:
        """Keep what is reported out of training and selection: drop train/validation examples
        whose inputs the test split has, then carve the validation split (if the task asks)."""
        if "test" in loaded:
            for split in ("train", "validation"):
                if split in loaded:
                    loaded[split], self.dropped[split] = without(loaded[split], loaded["test"])
        carved, texts = self.run.task.validation_from_train, texts_of(self.run.task)
        cut = None
        if carved:  # the selection split: the same carve for every run, whatever it trains on
            train = self.origins["train"]
            cut = carve(loaded["train"], carved, train, texts, self._carves)
            loaded["validation"], loaded["train"] = cut.validation, cut.pool
            self.origins["validation"] = f"{train}: {carved.describe()}"
        self.selection = overlap_stats(loaded, texts, cut.stats if cut else None, self._carves)
        if carved and not self.method.reads_train():
            del loaded["train"], self.origins["train"]
            self.dropped.pop("train", None)  # set only when a test split was read

    def _select(self, split: str, examples: List[Example]) -> List[Example]:
        data = self.run.data
        if split == "train":
            rng = random.Random(self.run.seed)  # few-shot draws vary with the seed, as in the literature
            if data.k_per_class is not None:
                by_class = defaultdict(list)
                for ex in examples:
                    by_class[ex.label].append(ex)
                return [
                    ex
                    for c in sorted(by_class)
                    for ex in self._sample(rng, by_class[c], data.k_per_class, f"train class {c}", data.cap_k)
                ]
            if data.k is not None:
                return self._sample(rng, examples, data.k, "train", data.cap_k)
            return examples
        examples = self.kind.eval_examples(examples)
        limit = data.eval_limit if split == "validation" else data.test_limit
        if limit is None or limit >= len(examples):
            return examples
        # The same subset for every run (fixed seed), so methods are scored on the same examples.
        return self._sample(random.Random(data.subset_seed), examples, limit, split)

    @staticmethod
    def _sample(rng: random.Random, items: list, k: int, what: str, cap: bool = False) -> list:
        """k of `items`, drawn with `rng`, in their split order; with `cap`, all of them if fewer."""
        if k > len(items) and not cap:
            raise DataError(
                f"asked for {k} examples of {what}, which has only {len(items)} "
                f"(data.cap_k=true takes all of a smaller set)"
            )
        k = min(k, len(items))
        return [items[i] for i in sorted(rng.sample(range(len(items)), k))]

    # --- tokenization, cached ---
    def setup(self, stage: Optional[str] = None) -> None:
        if self.splits:
            return
        if not self.raw:
            self.read()
        for split, examples in self.raw.items():
            if split != "train" or self.method.trains:  # in-context reads its demonstrations from `raw`
                self.splits[split] = self._encoded(split, examples)
                self.truncation[split] = prompt_fit.split_counts(self.splits[split])

    def _encode_row(self, split: str, ex: Example) -> dict:
        self.reader.begin_row()
        row = {**self.kind.encode(self.reader, ex, train=split == "train"), "prompt": self.reader.prompt_text(ex)}
        full = row["prompt"] if self.run.task.truncate_field is None else self.reader.prompt_text(ex, fit=False)
        return {**row, **prompt_fit.row_flags(self.reader, full, row["prompt"], ex.references or [ex.target])}

    def _encoded(self, split: str, examples: List[Example]) -> datasets.Dataset:
        rows, self.cache_hits[split] = self.cache.get(
            self._identity(split, examples),
            lambda: datasets.Dataset.from_list([self._encode_row(split, ex) for ex in examples]),
        )
        return rows

    @cached_property
    def _tokenizer_fingerprint(self) -> str:
        """The tokenizer's vocabulary and pipeline, without the truncation/padding state that
        encoding itself changes (which would make the key depend on what was encoded first)."""
        tok = self.reader.tokenizer
        if tok is None:  # an API model: prompts stay text, its server tokenizes them
            return "text"
        backend = getattr(tok, "backend_tokenizer", None)
        if backend is None:
            return hashlib.sha256(json.dumps(sorted(tok.get_vocab().items())).encode()).hexdigest()
        # Every encode call sets truncation and padding anew, so clearing them here is safe; hashing
        # the serialized string (not a parsed copy) keeps a 49k-vocab fingerprint at ~25 ms.
        backend.no_truncation()
        backend.no_padding()
        return hashlib.sha256(backend.to_str().encode()).hexdigest()

    def _identity(self, split: str, examples: List[Example]) -> Dict[str, Any]:
        """What the split's cache entry must hold: its examples, the files they were read from
        (and held out against), and everything that shapes their encoding. The cache names the
        entry by its digest and serves an entry only if its manifest records exactly this."""
        task, tok, reader = self.run.task, self.reader.tokenizer, self.reader
        shaping = {k: v for k, v in dataclasses.asdict(task).items() if k not in NOT_ENCODING}
        shaping["templates"] = dataclasses.asdict(task.selected)  # the others shape nothing
        rows = hashlib.sha256()
        for ex in examples:  # everything an example holds but where it came from
            rows.update(json.dumps({**dataclasses.asdict(ex), "where": None}, sort_keys=True).encode())
        read_from = "train" if split == "validation" and task.validation_from_train else split
        held_out_by = ["test"] if split != "test" and "test" in self.raw else []
        return {
            "task": task.name,
            "split": split,
            "rows": len(examples),
            "examples_sha256": rows.hexdigest(),
            "sources": {name: self._data_files.get(name) for name in [read_from, *held_out_by]},
            "encoding": {
                "cache_format": CACHE_FORMAT,
                **{package: version(package) for package in ("datasets", "transformers", "tokenizers")},
                "for_training": split == "train",
                "kind": [self.kind.name, self.kind.encoding_version],
                "reader": [reader.family.value, reader.head.value, type(reader).encoding_version, reader.after_context],
                "task": shaping,
                "tokenizer": [
                    type(tok).__name__,
                    getattr(tok, "pad_token_id", None),
                    getattr(tok, "eos_token_id", None),
                    self._tokenizer_fingerprint,
                ],
            },
        }

    @cached_property
    def _data_files(self) -> Dict[str, Any]:
        return data_files(self.run)

    # --- loaders ---
    def _ranks(self):
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer else (0, 1)

    def train_dataloader(self):
        rank, world = self._ranks()
        train, data = self.splits["train"], self.run.data
        lengths = None
        if data.group_by_length:  # prompt + answer tokens, counted in Arrow: ms for all of SST-2
            columns = train.with_format("arrow")
            lengths = pc.add(*(pc.list_value_length(columns[c]) for c in ("prompt_ids", "answer_ids"))).to_pylist()
        sampler = ResumableShuffle(len(train), data.batch_size, self.run.seed, rank, world, lengths)
        return ResumableLoader(
            train,
            sampler,
            trained=self.batches_trained,
            collate_fn=functools.partial(self.kind.collate, self.reader, train=True),
            num_workers=data.num_workers,
            generator=torch.Generator().manual_seed(self.run.seed),  # worker seeds, not the global RNG
        )

    def _eval_loader(self, split: str):
        """This rank's shard in length-sorted batches (ShardBatches), each with its rows' split
        indices (`index`), by which the LightningModule puts predictions back in split order."""
        rank, world = self._ranks()
        rows = self.splits[split]
        lengths = _lengths(rows.with_format("arrow")["prompt_ids"])
        return DataLoader(
            Indexed(rows),
            batch_sampler=ShardBatches(lengths, self.run.data.eval_batch_size, rank, world),
            collate_fn=functools.partial(with_index, functools.partial(self.kind.collate, self.reader, train=False)),
            num_workers=self.run.data.num_workers,
            generator=torch.Generator().manual_seed(self.run.seed),
        )

    def val_dataloader(self):
        return self._eval_loader("validation")

    def test_dataloader(self):
        return self._eval_loader("test")

    @property
    def has_test(self) -> bool:
        return "test" in self.raw


def _origin(where: str) -> str:
    """An example's file or hub split, without its line or row ("dir/train.tsv:12" -> "dir/train.tsv")."""
    return re.sub(r"(:\d+|\[\d+\])$", "", where)


def _lengths(column) -> List[int]:
    """Each row's prompt length: its token count, or for an API model's text prompts (its server
    tokenizes) the character count, which sorts the same way closely enough for batching."""
    text = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
    return (pc.utf8_length if text else pc.list_value_length)(column).to_pylist()
