"""Summarization (aeslc), translation (wmt16_en_ro) and extractive QA as generation (squad): their
file formats and bad data, their metrics checked by hand and against sacreBLEU's own corpus
scores, training on tiny models of both LM families, n/a on an encoder, and the real SmolLM2
through the CLI on each task."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from cli import REAL_DATA, ptlab_ok, record, run_dirs
from ptlab.run.build import build_run
from ptlab.data.sources import load_split
from ptlab.errors import DataError, NotApplicable
from ptlab.kinds import kind_class
from ptlab.scoring.text_metrics import SacreCorpusScore, best_over_references, exact_match, rouge_scores, token_f1
from ptlab.config.validation import check_task
from training import eval_loss, fit

REPO = Path(__file__).resolve().parents[1]
TASKS = ["squad", "aeslc", "wmt16_en_ro"]


def task(name: str, **local):
    yaml = OmegaConf.load(REPO / f"conf/task/{name}.yaml")
    yaml.local = OmegaConf.merge(yaml.local, local)
    kind = kind_class(yaml.kind)
    cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(kind.config), yaml))
    check_task(cfg)
    return cfg


# ------------------------------------------------------------------ metrics by hand


def test_squad_exact_match_and_f1_normalize_and_take_the_best_reference():
    assert exact_match("The Denver Broncos!", "denver broncos") == 1.0  # case, punctuation, article
    assert token_f1("Denver", "Denver Broncos") == pytest.approx(2 / 3)  # P 1, R 1/2
    assert token_f1("an apple", "the pear") == 0.0
    f1 = best_over_references(token_f1, ["Denver", "in 1990"], [["Denver Broncos", "Denver"], ["1990"]])
    assert f1.tolist() == pytest.approx([1.0, 2 / 3])


def test_rouge_takes_the_best_reference_per_example():
    refs = [["the cat", "a dog sat down"]]
    assert rouge_scores("rouge1", ["the cat sat"], refs).tolist() == pytest.approx([0.8])  # P 2/3, R 1
    assert rouge_scores("rouge2", ["the cat sat"], refs).tolist() == pytest.approx([2 / 3])  # P 1/2, R 1
    assert rouge_scores("rougeL", ["dog sat"], refs).tolist() == pytest.approx([2 / 3])  # LCS 2: P 1, R 1/2


@pytest.mark.parametrize("name", ["BLEU", "CHRF"])
def test_corpus_scores_summed_over_batches_equal_sacrebleus_own(name):
    import sacrebleu.metrics

    make = getattr(sacrebleu.metrics, name)
    hyps = ["the cat sat on the mat", "a dog ran home", "rain today"]
    refs = [["the cat sat on a mat", "a cat was on the mat"], ["the dog ran home"], ["it rains today", "rain"]]
    metric = SacreCorpusScore(make)
    metric.update(hyps[:2], refs[:2])  # two batches: the sums are what DDP ranks add up
    metric.update(hyps[2:], refs[2:])
    streams = [[r[i] if i < len(r) else None for r in refs] for i in range(2)]
    assert float(metric.compute()) == pytest.approx(make().corpus_score(hyps, streams).score / 100, abs=1e-6)
    metric.update(hyps[:1], [["the cat sat on the mat"]])
    assert 0 < float(metric.compute()) <= 1


# ------------------------------------------------------------------ formats and bad data


@pytest.mark.skipif(not (REAL_DATA / "squad_v1.1").is_dir(), reason="no real data")
def test_squad_splits_are_carved_by_article_and_keep_every_reference():
    cfg = task("squad")
    splits = {s: load_split(cfg, s, "local", REAL_DATA) for s in ("train", "validation", "test")}
    assert {s: len(e) for s, e in splits.items()} == {"train": 3036, "validation": 432, "test": 7102}
    contexts = {s: {ex.fields["context"] for ex in e} for s, e in splits.items()}
    assert not contexts["train"] & contexts["validation"] and not contexts["validation"] & contexts["test"]
    refs = splits["validation"][0].references
    assert refs[0] == "the southern and central parts of France" and len(refs) == len(set(refs)) == 3


def test_squad_answer_start_that_misses_its_answer_names_the_question(tmp_path):
    paragraph = {"context": "Paris is in France.", "qas": [{"id": "q1", "question": "Where?", "answers": []}]}
    paragraph["qas"][0]["answers"] = [{"text": "France", "answer_start": 12}, {"text": "France", "answer_start": 0}]
    (tmp_path / "sq").mkdir()
    path = tmp_path / "sq/dev.json"
    path.write_text(json.dumps({"data": [{"title": "T", "paragraphs": [paragraph]}]}))
    cfg = task("squad", dir="sq", files={"train": "dev.json", "validation": "dev.json", "test": "dev.json"})
    with pytest.raises(DataError) as info:
        load_split(cfg, "train", "local", tmp_path)
    assert str(info.value) == (
        f"{path}: data[0].paragraphs[0].qas[0].answers[1] (id q1): answer_start=0 points at 'Paris ' "
        "in the context, not at the answer 'France'"
    )


def test_parallel_files_of_unequal_length_name_where_one_ends(tmp_path):
    folder = tmp_path / "mt"
    folder.mkdir()
    (folder / "dev.en").write_text("one\ntwo\nthree\n")
    (folder / "dev.ro").write_text("unu\ndoi\n")
    cfg = task("wmt16_en_ro", dir="mt")
    cfg.local.files = {"test": "dev"}
    with pytest.raises(DataError, match=rf"^{folder}/dev.ro:3: the file ends here, but {folder}/dev.en has 3 lines"):
        load_split(cfg, "test", "local", tmp_path)
    (folder / "dev.ro").write_text("unu\n\ntrei\n")
    with pytest.raises(DataError, match=rf"^{folder}/dev.ro:2: empty line, but its translation"):
        load_split(cfg, "test", "local", tmp_path)


# ------------------------------------------------------------------ tiny models


@pytest.mark.slow
@pytest.mark.parametrize("model", ["tiny-llama", "tiny-t5"])
@pytest.mark.parametrize("name", TASKS)
def test_lora_lowers_the_loss_on_each_task(compose_run, model, name):
    run = compose_run(f"model={model}", "method=lora", f"task={name}", "method.lr=3e-2", "method.warmup_ratio=0")
    run.data.k, run.data.batch_size, run.task.max_source_length = 4, 4, 96
    data, module = build_run(run)
    batch = next(iter(data.train_dataloader()))
    before = eval_loss(module, batch)
    fit(module, data.train_dataloader(), steps=8)
    assert eval_loss(module, batch) < before


@pytest.mark.parametrize("name", TASKS)
def test_an_encoder_cannot_generate_so_the_task_is_not_applicable(compose_run, name):
    with pytest.raises(
        NotApplicable, match=f"task={name} is a generation task; model=tiny-bert .* cannot generate text"
    ):
        compose_run("model=tiny-bert", "method=full_finetune", f"task={name}")


# ------------------------------------------------------------------ the real model, through the CLI


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,metric,budget",  # a shorter input or output than the task's keeps each run near a minute
    [
        ("squad", "f1", "task.max_source_length=256"),
        ("aeslc", "rouge_l", "task.max_source_length=160"),
        ("wmt16_en_ro", "chrf", "task.max_target_length=40"),
    ],
)
def test_smollm2_zero_shot_through_the_cli(tmp_path, cli_cache, name, metric, budget):
    ptlab_ok(
        "model=smollm2-135m",
        "method=zero_shot",
        f"task={name}",
        "data.eval_limit=2",
        "data.test_limit=8",
        budget,
        log_dir=tmp_path / "runs",
        cache=cli_cache,
    )
    [run] = run_dirs(tmp_path / "runs")
    result = record(run)
    assert result["status"] == "completed" and result["data"] == {"validation": 2, "test": 8}
    assert 0 < result["metrics"]["test"][metric] <= 1  # it writes something that overlaps the references
    if name == "wmt16_en_ro":
        assert result["metric_notes"]["bleu"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp")
    rows = [json.loads(line) for line in (run / "predictions_test.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and all(row["references"] and isinstance(row["predicted"], str) for row in rows)
