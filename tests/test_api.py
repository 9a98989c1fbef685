"""The API model family (`model=api`) against a real HTTP server on 127.0.0.1 (tests/api_server.py)
serving the tiny random Llama with the very weights the local scorer gets: the API's rank scores
equal the local scorer's, generation goes through completions, a run through the CLI is served
from the response cache the second time, failures are retried (500, 429 with Retry-After,
timeouts) or end in one error line, and the key is sent but never written or printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from api_server import CompletionServer
from cli import PROCESS_TIMEOUT, REAL_DATA, ptlab_cmd, ptlab_env, record, run_dirs
from ptlab.run.build import build_run
from ptlab.config.schema import ApiConfig
from ptlab.errors import ApiError

ROOT = Path(__file__).resolve().parents[1]
KEY_ENV = "PTLAB_TEST_API_KEY"
SECRET = "sk-ptlab-" + "test-7c41d9"  # split, so that no file of the repo holds it whole
N = 8  # SST-2 dev examples scored
MULTI = {"negative": " no", "positive": " absolutely wonderful indeed"}  # sum and mean differ
BODY = {"prompt": "Review: a fine film\nSentiment: positive", "echo": True, "max_tokens": 0, "logprobs": 1}


def compose(data_dir: Path, cache: Path, out: Path, *overrides: str):
    from hydra import compose as hydra_compose, initialize_config_dir

    from ptlab.config import resolvers
    from ptlab.config.validation import validate

    resolvers.register()
    fixed = [f"paths.data_dir={data_dir}", f"paths.cache_dir={cache}", f"paths.output_dir={out}"]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return validate(hydra_compose("train", overrides=[*overrides, *fixed]))


@pytest.fixture(scope="module")
def served(data_dir, shared_cache, tmp_path_factory):
    """The local zero-shot tiny-llama on SST-2 (seeded: the weights every local run gets) and a
    server answering completions with that same backbone."""
    run = compose(
        data_dir,
        shared_cache,
        tmp_path_factory.mktemp("local"),
        "model=tiny-llama",
        "task=sst2",
        "method=zero_shot",
        f"data.eval_limit={N}",
        f"data.test_limit={N}",
    )
    data, module = build_run(run)
    server = CompletionServer(module.model, data.reader.tokenizer, "tiny-llama").start()
    yield SimpleNamespace(server=server, data=data, model=module.model)
    server.shutdown()
    server.server_close()


@pytest.fixture
def server(served, monkeypatch):
    served.server.reset()
    served.server.leak_token = False
    monkeypatch.setenv(KEY_ENV, SECRET)
    return served.server


def api(server, *more: str, method: str = "zero_shot") -> list:
    return [
        "model=api",
        f"model.api.base_url={server.base_url}",
        "model.api.model=tiny-llama",
        f"model.api.key_env={KEY_ENV}",
        "model.api.backoff_s=0.01",
        f"method={method}",
        *more,
    ]


def client(server, cache: Path, **settings):
    from ptlab.models.api import ApiClient

    cfg = ApiConfig(base_url=server.base_url, model="tiny-llama", key_env=KEY_ENV, backoff_s=0.01, **settings)
    return ApiClient(cfg, cache)


def local_scores(served, words):
    reader, kind = served.data.reader, served.data.kind
    batch = kind.collate(reader, list(served.data.splits["validation"]), train=False)
    with torch.no_grad():
        summed, mean = reader.score(served.model, batch["prompt_ids"], [reader.encode_target(w) for w in words])
    return batch["prompt"], summed, mean


@pytest.mark.slow
@pytest.mark.parametrize(
    "labels, leak",
    [(None, False), (MULTI, False), (MULTI, True)],
    ids=["sst2-verbalizers", "multi-token-verbalizers", "server-generates-a-token-anyway"],
)
def test_api_rank_scores_equal_the_local_scorer(served, server, data_dir, tmp_path, labels, leak):
    server.leak_token = leak
    run = compose(
        data_dir,
        tmp_path / "cache",
        tmp_path / "run",
        *api(server, "task=sst2", f"data.eval_limit={N}", f"data.test_limit={N}"),
    )
    data, module = build_run(run)
    words = list((labels or run.task.labels).values())
    batch = data.kind.collate(data.reader, list(data.splits["validation"]), train=False)
    summed, mean = data.reader.score(module.model, batch["prompt_ids"], words)
    prompts, local_sum, local_mean = local_scores(served, words)
    assert batch["prompt_ids"] == batch["prompt"] == prompts  # the API reads the prompt text itself
    torch.testing.assert_close(summed, local_sum, atol=1e-4, rtol=0)
    torch.testing.assert_close(mean, local_mean, atol=1e-4, rtol=0)
    if labels:
        assert not torch.equal(summed, mean)
    assert len(server.requests) == N * len(words)
    assert all(r["echo"] is True and r["max_tokens"] == 0 and r["logprobs"] == 1 for r in server.requests)
    assert set(server.authorization) == {f"Bearer {SECRET}"}


@pytest.mark.slow
def test_in_context_through_the_api_equals_the_local_in_context_scorer(served, server, data_dir, tmp_path):
    """The same k=4 demonstrations before every prompt: sent as text with each request, or held in
    the local model's key/value cache; the scores agree."""
    more = ("task=sst2", f"data.eval_limit={N}", f"data.test_limit={N}", "data.k=4")
    scored = {}
    for where, overrides in {
        "local": ("model=tiny-llama", "method=in_context", *more),
        "api": api(server, *more, method="in_context"),
    }.items():
        run = compose(data_dir, tmp_path / where / "cache", tmp_path / where / "run", *overrides)
        data, module = build_run(run)
        batch = data.kind.collate(data.reader, list(data.splits["validation"]), train=False)
        with torch.no_grad():
            summed, _ = data.reader.score(module.model, batch["prompt_ids"], data.kind.choice_ids(data.reader))
        scored[where] = summed, module.method, data.reader
    (api_sum, api_method, api_reader), (local_sum, local_method, _) = scored["api"], scored["local"]
    assert api_method.summary()["demonstrations"] == local_method.summary()["demonstrations"]
    assert len(api_method.demonstrations) == 4 and local_method.summary()["context_tokens"] > 0
    torch.testing.assert_close(api_sum, local_sum, atol=1e-4, rtol=0)
    context = api_method.context_text(api_reader, api_method.demonstrations)
    assert len(server.requests) == 2 * N and all(r["prompt"].startswith(context) for r in server.requests)


@pytest.mark.slow
def test_in_context_generation_sends_the_demonstrations_with_every_prompt(served, server, data_dir, tmp_path):
    more = ("task=e2e_nlg", "data.eval_limit=2", "data.test_limit=2", "data.k=2")
    run = compose(data_dir, tmp_path / "cache", tmp_path / "run", *api(server, *more, method="in_context"))
    data, module = build_run(run)
    assert "train" not in data.splits  # the demonstrations are read, never tokenized for training
    batch = data.kind.collate(data.reader, list(data.splits["validation"]), train=False)
    out, _ = data.kind.evaluate(data.reader, module.model, batch, run.decode)
    context = module.method.context_text(data.reader, module.method.demonstrations)
    assert len(module.method.demonstrations) == 2 and context.count(data.reader.task.selected.text.split("{")[0]) >= 2
    # requests run `concurrency` at a time: they reach the server in any order
    assert sorted(r["prompt"] for r in server.requests) == sorted(context + p for p in batch["prompt"])
    assert len(out["predictions"]) == len(batch["prompt"])


def test_generation_goes_through_completions(served, server, data_dir, tmp_path):
    run = compose(
        data_dir,
        tmp_path / "cache",
        tmp_path / "run",
        *api(server, "task=e2e_nlg", "data.eval_limit=3", "data.test_limit=3"),
    )
    data, module = build_run(run)
    batch = data.kind.collate(data.reader, list(data.splits["validation"]), train=False)
    out, rows = data.kind.evaluate(data.reader, module.model, batch, run.decode)
    reader, limit, ending = served.data.reader, run.task.max_target_length, run.decode.ending(run.task.stops)
    with torch.no_grad():  # the local reader's greedy decode of each prompt, unpadded
        expected = [
            reader.generate(served.model, [reader.encode_text(p)], 1, limit, ending, True)[0][0]
            for p in batch["prompt"]
        ]
    assert out["predictions"] == expected and all(expected)
    assert [r["predicted"] for r in rows] == expected
    # "\n" could come before the answer, so ptlab cuts there itself (decode.stop_at_start=false)
    assert all("stop" not in r and r["max_tokens"] == limit and r["temperature"] == 0 for r in server.requests)


@pytest.mark.parametrize("fault", ["500", "429", "sleep"])
def test_a_failed_request_is_retried(server, tmp_path, fault):
    server.faults.append(fault)
    server.sleep_s = 4.0
    started = time.perf_counter()
    [response] = client(server, tmp_path, timeout_s=1.5 if fault == "sleep" else 30).complete([BODY])
    waited = time.perf_counter() - started
    assert len(server.requests) == 2
    assert response["choices"][0]["logprobs"]["token_logprobs"][0] is None
    if fault == "429":
        assert waited >= 1.0  # the server's Retry-After: 1, not backoff_s=0.01


def test_a_refused_request_is_not_retried_and_names_the_url_and_status(server, tmp_path):
    with pytest.raises(ApiError) as err:
        client(server, tmp_path, timeout_s=30).complete([{**BODY, "model": "no-such-model"}])
    message = str(err.value)
    assert f"{server.base_url}/completions" in message and "HTTP 404" in message and "not retried" in message
    assert "\n" not in message and SECRET not in message and len(server.requests) == 1


def test_a_cached_response_makes_no_request(server, tmp_path):
    first = client(server, tmp_path, timeout_s=30)
    [answer] = first.complete([BODY])
    again = client(server, tmp_path, timeout_s=30)
    assert again.complete([BODY]) == [answer] and len(server.requests) == 1
    assert (again.requests_sent, again.cache_hits) == (0, 1)
    [entry] = (tmp_path / "api").iterdir()  # no temp file left beside it
    assert entry == again.cache_path({"model": "tiny-llama", **BODY}) and entry.suffix == ".json"
    assert SECRET not in entry.read_text() and json.loads(entry.read_text())["response"] == answer


def cli(*overrides: str, log_dir: Path, cache: Path) -> subprocess.CompletedProcess:
    env = {**ptlab_env(log_dir, cache, REAL_DATA), KEY_ENV: SECRET, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    return subprocess.run(
        ptlab_cmd(*overrides), env=env, cwd=log_dir.parent, capture_output=True, text=True, timeout=PROCESS_TIMEOUT
    )


def assert_secret_nowhere(*paths: Path, procs) -> None:
    for proc in procs:
        assert SECRET not in proc.stdout + proc.stderr
    for path in paths:
        for file in (f for f in path.rglob("*") if f.is_file()):
            assert SECRET.encode() not in file.read_bytes(), file


@pytest.mark.slow
def test_a_cli_run_is_served_from_the_cache_the_second_time(served, server, tmp_path):
    log_dir, cache = tmp_path / "runs", tmp_path / "cache"
    overrides = api(server, "task=sst2", f"data.eval_limit={N}", f"data.test_limit={N}", "trainer=cpu")
    first = cli(*overrides, log_dir=log_dir, cache=cache)
    assert first.returncode == 0, first.stderr[-3000:]
    asked = len(server.requests)
    # every example x label on validation and test, and the calibration baselines once (3
    # content-free inputs and the cue, x label; the test pass gets them from the cache)
    assert asked == 2 * N * 2 + 4 * 2 == len({json.dumps(r, sort_keys=True) for r in server.requests})
    assert set(server.authorization) == {f"Bearer {SECRET}"}
    second = cli(*overrides, "if_exists=rerun", log_dir=log_dir, cache=cache)
    assert second.returncode == 0, second.stderr[-3000:]
    assert len(server.requests) == asked  # nothing paid twice
    [run_dir] = run_dirs(log_dir)
    result = record(run_dir)
    assert result["status"] == "completed" and result["params"]["total"] == 0 and result["family"] == "api"
    assert result["metrics"]["val_final"] == record(run_dir / "attempts" / "1")["metrics"]["val_final"]
    rows = [json.loads(line) for line in (run_dir / "predictions_val.jsonl").read_text().splitlines()]
    prompts, local_sum, _ = local_scores(served, list(served.data.kind.verbalizers().values()))
    by_prompt = {row["prompt"]: list(row["scores"].values()) for row in rows}
    torch.testing.assert_close(torch.tensor([by_prompt[p] for p in prompts]), local_sum, atol=1e-4, rtol=0)
    assert_secret_nowhere(log_dir, cache, procs=[first, second])


@pytest.mark.slow
def test_timeouts_that_persist_end_the_run_with_one_error_line(server, tmp_path):
    server.always, server.sleep_s = "sleep", 3.0
    log_dir, cache = tmp_path / "runs", tmp_path / "cache"
    overrides = api(
        server,
        "task=sst2",
        "data.eval_limit=2",
        "data.test_limit=2",
        "trainer=cpu",
        "model.api.timeout_s=0.5",
        "model.api.max_retries=2",
    )
    proc = cli(*overrides, log_dir=log_dir, cache=cache)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("ptlab: error:")]
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and len(lines) == 1, proc.stderr[-3000:]
    assert f"{server.base_url}/completions" in lines[0] and "after 3 attempts" in lines[0]
    assert "timeout_s=0.5" in lines[0]
    assert set(Counter(json.dumps(r, sort_keys=True) for r in server.requests).values()) == {3}
    assert_secret_nowhere(log_dir, cache, procs=[proc])


@pytest.mark.slow
def test_the_reader_registers_whichever_module_is_imported_first():
    probe = (
        "import ptlab.models.api; from ptlab.models.families import READERS; from ptlab.config.schema import Family; "
        "print(READERS[Family.api].__name__)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True).stdout
    assert out == "ApiReader\n"
