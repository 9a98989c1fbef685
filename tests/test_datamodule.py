"""The DataModule every method shares: seeded few-shot draws, fixed eval subsets, grouped
multi-reference evaluation, and a tokenization cache that a second run reuses."""

from ptlab.data.datamodule import TaskDataModule
from ptlab.models.families import make_adapter
from ptlab.models.loading import load_tokenizer


def _data(run, shared_cache):
    data = TaskDataModule(run)
    data.read()
    data.adapter = make_adapter(run.model.family, load_tokenizer(run.model, shared_cache), run.task)
    data.setup()
    return data


def _prompts(data, split):
    return [row["prompt"] for row in data.splits[split]]


def test_second_run_reads_tokenized_splits_from_the_cache(compose_run, shared_cache):
    overrides = ("model=tiny-bert", "method=full_finetune", "task=rte", "data.k=32", "data.eval_limit=20")
    first = _data(compose_run(*overrides), shared_cache)
    second = _data(compose_run(*overrides), shared_cache)
    assert first.cache_hits == {"train": False, "validation": False}
    assert second.cache_hits == {"train": True, "validation": True}
    assert list(first.splits["train"]) == list(second.splits["train"])
    other_template = compose_run(*overrides, "task.template='{hypothesis} / {premise}'")
    assert _data(other_template, shared_cache).cache_hits == {"train": False, "validation": False}


def test_few_shot_draws_follow_the_seed_and_eval_subsets_do_not(compose_run, shared_cache):
    runs = [compose_run("model=tiny-bert", "method=full_finetune", f"seed={s}", "data.k_per_class=4",
                        "data.eval_limit=50") for s in (0, 0, 1)]
    a, b, c = (_data(r, shared_cache) for r in runs)
    assert _prompts(a, "train") == _prompts(b, "train") != _prompts(c, "train")
    assert sorted(row["label"] for row in a.splits["train"]) == [0] * 4 + [1] * 4
    assert _prompts(a, "validation") == _prompts(c, "validation")  # every run scores the same 50
    assert len(a.splits["validation"]) == 50


def test_generation_eval_groups_references_by_meaning_representation(compose_run, shared_cache):
    run = compose_run("model=tiny-llama", "method=zero_shot", "task=e2e_nlg")
    data = _data(run, shared_cache)
    rows = data.splits["validation"]
    assert len(rows) == 547  # E2E dev: 4,672 references of 547 meaning representations
    assert sum(len(r["references"]) for r in rows) == 4672
    assert rows[0]["prompt"].startswith("Table: name[") and rows[0]["prompt"].endswith("\nText:")


def test_cache_key_ignores_the_tokenizers_truncation_state_and_differs_per_tokenizer(compose_run, shared_cache):
    run = compose_run("model=tiny-llama", "method=prompt_tuning", "data.k=8", "data.eval_limit=8")
    tokenizer = load_tokenizer(run.model, shared_cache)
    before = TaskDataModule(run, make_adapter(run.model.family, tokenizer, run.task))._tokenizer_fingerprint
    tokenizer("an earlier encode leaves truncation set", truncation=True, max_length=3)
    after = TaskDataModule(run, make_adapter(run.model.family, tokenizer, run.task))._tokenizer_fingerprint
    assert before == after
    bert = compose_run("model=tiny-bert", "method=prompt_tuning")
    other = TaskDataModule(bert, make_adapter(bert.model.family, load_tokenizer(bert.model, shared_cache), bert.task))
    assert other._tokenizer_fingerprint != before
