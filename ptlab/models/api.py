"""An LM behind an OpenAI-compatible `/v1/completions` endpoint as a model family (`model=api`).

Rank scoring is lm-eval's completions loglikelihood: prompt + choice go out as one text with
`echo=true`, `logprobs=1`, `max_tokens=0`, and the choice scores the sum of the echoed token
log-probabilities from its first character on. There is no local tokenizer to count the prompt's
tokens (lm-eval's `ctxlen`), so the server's `text_offset`s split prompt from choice; the mean is
that sum over the choice's token count. Generation is a plain greedy completion (temperature 0)
that the server stops at the task's stop sequences (`stop`: the newline, and task.stop).

The client is a parameter-free `nn.Module`, so the shared LightningModule and Lightning's
validate/test loops run it unchanged; nothing trains (validation refuses training methods).
Requests go `concurrency` at a time and retry 429s, 5xx, timeouts and dropped connections with
exponential backoff (or the server's Retry-After). Every answer the scorer can read is cached on
disk by (URL, model, request), so an interrupted or repeated run never pays twice; an answer it
cannot read (a 200 that is JSON but not a completion) is an error and never cached, and a cached
entry that is not usable (an older ptlab cached such answers) is asked again (`model.api.cache`
says whether the cache is used, refreshed or off). The key is read from the environment for each
request and kept in no attribute, config, cache entry, log or error.
"""

from __future__ import annotations

import email.utils
import functools
import hashlib
import http.client
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import torch
from torch import nn

from ptlab.run.cache_files import write_json_entry
from ptlab.config.schema import ApiCache, ApiConfig, Family
from ptlab.config.task import TaskConfig
from ptlab.errors import ApiError
from ptlab.kinds import Head
from ptlab.models.api_answers import Unusable, completion, continuation, generated
from ptlab.models.family_reader import FamilyReader
from ptlab.models.tensors import flatten_choices, spread

log = logging.getLogger(__name__)
REDACTED = "<redacted>"
NOTE_EVERY_S = 10.0
ALSO = "; or pass model.api.cache=off"  # the API cache's own way out of a cache that cannot be written


def _retried(status: int) -> bool:
    """Worth another attempt: rate limits, request timeouts and server-side failures."""
    return status in (408, 429) or status >= 500


class ApiClient(nn.Module):
    """The "model" of an API run: sends completion requests, cached on disk; no parameters."""

    def __init__(self, cfg: ApiConfig, cache_dir: str | Path):
        super().__init__()
        self.cfg = cfg
        self.url = cfg.base_url.rstrip("/") + "/completions"
        self.cache_dir = Path(cache_dir).expanduser() / "api"
        # Follows the module to Lightning's device: scores are returned where the metrics are.
        self.register_buffer("anchor", torch.zeros(0), persistent=False)
        self.context = ""  # text before every prompt (in-context demonstrations); sent with each request
        self.requests_sent = 0  # HTTP attempts (a cache hit makes none)
        self.cache_hits = 0
        self._count = threading.Lock()
        self._noted = float("-inf")  # when a retry was last reported (concurrent failures: one line)

    def extra_repr(self) -> str:
        return f"url={self.url!r}, model={self.cfg.model!r}"

    def complete(self, bodies: List[Dict[str, Any]], reads: Optional[List[Callable]] = None) -> list:
        """What `reads[i]` takes from the answer to `bodies[i]` (default: the answer, if it is a
        completion), in order, `concurrency` requests at a time; `model` is added to each body."""
        bodies = [{"model": self.cfg.model, **body} for body in bodies]
        reads = reads or [completion] * len(bodies)
        workers = min(self.cfg.concurrency, len(bodies))
        if workers <= 1:
            return [self._cached(body, read) for body, read in zip(bodies, reads)]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ptlab-api") as pool:
            futures = [pool.submit(self._cached, body, read) for body, read in zip(bodies, reads)]
            try:
                return [f.result() for f in futures]
            except BaseException:  # a request failed for good: start no more (those in flight finish)
                for f in futures:
                    f.cancel()
                raise

    def cache_path(self, body: Dict[str, Any]) -> Path:
        key = json.dumps([self.cfg.base_url.rstrip("/"), self.cfg.model, body], sort_keys=True)
        return self.cache_dir / f"{hashlib.sha256(key.encode()).hexdigest()}.json"

    def _cached(self, body: Dict[str, Any], read: Callable) -> Any:
        """`read` of the cached answer, else of the server's; only an answer `read` accepts is cached."""
        path = self.cache_path(body)
        if self.cfg.cache == ApiCache.use and path.exists():
            try:
                value = _from_cache(path, body, read)
            except Unusable as err:
                self._note(
                    f"api: the cached answer {path} is not usable ({err}); asking the server again "
                    f"(model.api.cache=refresh asks every request again)"
                )
            else:
                with self._count:
                    self.cache_hits += 1
                return value
        response = self._post(json.dumps(body).encode())
        try:
            value = read(response)
        except Unusable as err:
            raise ApiError(
                f"{self.url} (model.api.model={self.cfg.model!r}) answered with JSON that is not a usable "
                f"completion: {err}; nothing was cached"
            ) from None
        if self.cfg.cache != ApiCache.off:  # a write that fails is one error naming the entry, no temp file
            write_json_entry("API cache entry", path, {"request": body, "response": response}, ALSO)
        return value

    def _post(self, data: bytes) -> Dict[str, Any]:
        """One request, retried; a final failure is one ApiError line naming the URL and status."""
        attempts = self.cfg.max_retries + 1
        for attempt in range(1, attempts + 1):
            wait = self.cfg.backoff_s * 2 ** (attempt - 1)
            key = os.environ.get(self.cfg.key_env) or None
            headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
            with self._count:
                self.requests_sent += 1
            try:
                request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.cfg.timeout_s) as reply:
                    payload = reply.read()
            except urllib.error.HTTPError as err:
                problem = f"HTTP {err.code} {err.reason}{_detail(err, key)}"
                if not _retried(err.code):
                    raise ApiError(self._failure(problem, attempt) + self._key_hint(err.code, key)) from None
                wait = _retry_after(err.headers.get("Retry-After"), wait)
            except TimeoutError:
                problem = f"no answer within model.api.timeout_s={self.cfg.timeout_s:g} s"
            except (OSError, http.client.HTTPException) as err:  # refused, reset, dropped; URLError
                reason = getattr(err, "reason", err)
                if isinstance(reason, TimeoutError):
                    problem = f"no answer within model.api.timeout_s={self.cfg.timeout_s:g} s"
                else:
                    problem = f"connection failed ({type(reason).__name__}: {reason})"
            else:
                try:
                    return json.loads(payload)
                except ValueError:
                    raise ApiError(self._failure("the answer is not JSON", attempt)) from None
            if attempt < attempts:
                self._note(f"api: {problem} from {self.url}; retry {attempt} of {self.cfg.max_retries} in {wait:.2g} s")
                time.sleep(wait)
        raise ApiError(self._failure(problem, attempts))

    def _note(self, line: str) -> None:
        """Say a retry at most every NOTE_EVERY_S seconds: requests failing together, say, on a
        rate limit, would otherwise fill the console with the same line."""
        with self._count:
            now = time.monotonic()
            if now - self._noted < NOTE_EVERY_S:
                return
            self._noted = now
        log.warning(line)

    def _failure(self, problem: str, attempts: int) -> str:
        tries = f"after {attempts} attempts" if attempts > 1 else "(not retried)"
        return f"API request to {self.url} (model.api.model={self.cfg.model!r}) failed {tries}: {problem}"

    def _key_hint(self, status: int, key) -> str:
        if status not in (401, 403):
            return ""
        state = "set" if key else "not set"
        return f"; the key is read from the environment variable {self.cfg.key_env} ({state}), see model.api.key_env"


def _detail(err: urllib.error.HTTPError, key) -> str:
    """The server's own message, on one short line and without the key (some echo it back)."""
    try:
        body = err.read().decode("utf-8", "replace")
        message = json.loads(body).get("error", body) if body.lstrip().startswith("{") else body
        message = message.get("message", message) if isinstance(message, dict) else message
    except (OSError, ValueError, AttributeError):
        return ""
    text = " ".join(str(message).split())[:200]
    return f": {text.replace(key, REDACTED) if key else text}" if text else ""


def _retry_after(value, default: float) -> float:
    """Seconds to wait: the server's Retry-After (seconds or an HTTP date), else `default`."""
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return default


def _from_cache(path: Path, body: Dict[str, Any], read: Callable) -> Any:
    """`read` of the answer cached at `path`; Unusable, saying why, if the entry is not one for `body`."""
    try:
        entry = json.loads(path.read_text())
        request, response = entry["request"], entry["response"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise Unusable(f"not a cache entry: {type(err).__name__}: {err}") from None
    if request != body:
        raise Unusable("it answers another request")
    return read(response)


class ApiReader(FamilyReader):
    """Prompts and answers stay text: the server tokenizes them. Nothing truncates a prompt here
    (there is no tokenizer to count with); the server's own context limit applies."""

    family = Family.api

    def __init__(self, tokenizer, task: TaskConfig, head: Head):
        self.tokenizer = tokenizer  # None: load_tokenizer loads none for an API model
        self.task = task
        self.head = head
        self.pad_id = None
        self.after_context = None

    def encode_text(self, text: str) -> str:
        return text

    def encode_target(self, text: str) -> str:
        return text

    def read_context(self, model: ApiClient, text: str, reuse_cache: bool) -> ApiClient:
        """The server reads the context with every request (no cache to reuse across requests)."""
        model.context = text
        return model

    def score(self, model: ApiClient, prompts: List[str], choices: list) -> tuple[torch.Tensor, torch.Tensor]:
        """(summed, mean) log-probability of every choice after every prompt, (prompts, most
        choices): texts shared by every prompt, or one list per prompt (a missing one: -inf)."""
        flat, owner, valid = flatten_choices(choices, len(prompts))
        pairs = [(model.context + prompts[p], c) for p, c in zip(owner.tolist(), flat)]
        bodies = [{"prompt": p + c, "echo": True, "max_tokens": 0, "logprobs": 1, "temperature": 0} for p, c in pairs]
        reads = [functools.partial(continuation, start=len(p), end=len(p) + len(c)) for p, c in pairs]
        found = model.complete(bodies, reads)
        device = model.anchor.device
        sums = torch.tensor([s for s, _ in found], device=device)
        counts = torch.tensor([n for _, n in found], device=device)
        return spread(sums, valid), spread(sums / counts, valid)

    def generate(self, model: ApiClient, prompts: List[str], num_beams: int, max_new_tokens: int, ending, early):
        """Greedy completions (validation refuses num_beams > 1) that the server stops at the stops
        it can be given (the API's `stop`, if `early`: `Ending.server_stops`), each cut by `ending`
        as a local model's is; the server's token counts are not read."""
        stops = ending.server_stops() if early else []
        stop = {"stop": stops} if stops else {}
        bodies = [{"prompt": model.context + p, "max_tokens": max_new_tokens, "temperature": 0} | stop for p in prompts]
        texts = model.complete(bodies, [generated] * len(bodies))
        return [ending.cut(text) for text in texts], [None] * len(texts)
