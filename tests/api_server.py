"""A real OpenAI-compatible `/v1/completions` server on 127.0.0.1 for the API family's tests.

It serves a local transformers model the way vLLM does: `echo` + `logprobs` return the prompt's
tokens, their log-probabilities (the first None) and character offsets; `max_tokens` > 0 decodes
greedily, cut at the first `stop` string. Standard library HTTP only, so the client under test
speaks real HTTP to it. Faults for the retry tests are queued server-side (`faults`, one per
request, or `always`): "500", "429" (with Retry-After), "sleep" (past the client's timeout),
"junk" (a 200 whose JSON is not a completion, as a proxy in front of a loading model may send);
`leak_token` answers echo + max_tokens=0 with one generated token too, as some vLLM versions do.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Optional

import torch


class CompletionServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, model, tokenizer, name: str):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.model, self.tokenizer, self.name = model.eval(), tokenizer, name
        self.compute = threading.Lock()  # one forward at a time, whatever the client's concurrency
        self.state = threading.Lock()
        self.sleep_s = 2.0
        self.retry_after = "1"
        self.leak_token = False  # echo + max_tokens=0 answers one generated token too, as vLLM may
        self.reset()

    def reset(self) -> None:
        """Forget earlier requests and faults (between tests)."""
        with self.state:
            self.faults: collections.deque = collections.deque()
            self.always: Optional[str] = None
            self.requests: list = []  # every POSTed body, faulted ones too
            self.authorization: list = []  # the Authorization header of each

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def start(self) -> "CompletionServer":
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def complete(self, body: Dict[str, Any]) -> Dict[str, Any]:
        tok, prompt = self.tokenizer, body["prompt"]
        encoded = tok(prompt, return_offsets_mapping=True)
        ids = encoded["input_ids"]
        choice: Dict[str, Any] = {"index": 0, "text": "", "logprobs": None, "finish_reason": "length"}
        with self.compute, torch.no_grad():
            if body.get("echo"):
                logp = self.model(input_ids=torch.tensor([ids])).logits[0].float().log_softmax(-1)
                best = logp.max(-1)
                choice["text"] = prompt
                choice["logprobs"] = {
                    "tokens": [tok.decode([i]) for i in ids],
                    "token_logprobs": [None] + [float(logp[t - 1, ids[t]]) for t in range(1, len(ids))],
                    "top_logprobs": [None]
                    + [{tok.decode([int(best.indices[t - 1])]): float(best.values[t - 1])} for t in range(1, len(ids))],
                    "text_offset": [start for start, _ in encoded["offset_mapping"]],
                }
                if self.leak_token and body.get("max_tokens") == 0:
                    extra = int(best.indices[-1])
                    choice["text"] += tok.decode([extra])
                    for name, value in (
                        ("tokens", tok.decode([extra])),
                        ("token_logprobs", float(best.values[-1])),
                        ("top_logprobs", {tok.decode([extra]): float(best.values[-1])}),
                        ("text_offset", len(prompt)),
                    ):
                        choice["logprobs"][name].append(value)
            if body.get("max_tokens", 16) > 0:
                text, stopped = self._greedy(ids, body)
                choice["text"] += text
                choice["finish_reason"] = "stop" if stopped else "length"
        return {"object": "text_completion", "model": self.name, "choices": [choice]}

    def _greedy(self, ids, body) -> tuple[str, bool]:
        out = self.model.generate(
            input_ids=torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            max_new_tokens=body["max_tokens"],
            do_sample=False,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
        )
        text = self.tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True)
        stops = body.get("stop") or []
        cuts = [text.find(s) for s in ([stops] if isinstance(stops, str) else stops) if s in text]
        return (text[: min(cuts)], True) if cuts else (text, False)


class _Handler(BaseHTTPRequestHandler):
    server: CompletionServer

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        if self.path != "/v1/completions":
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        server = self.server
        with server.state:
            server.requests.append(body)
            server.authorization.append(self.headers.get("Authorization"))
            fault = server.faults.popleft() if server.faults else server.always
        if fault == "500":
            return self._send(500, {"error": {"message": "injected server error"}})
        if fault == "429":
            return self._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": server.retry_after})
        if fault == "junk":
            return self._send(200, {"object": "error", "message": "model is loading"})
        if fault == "sleep":
            time.sleep(server.sleep_s)  # the client has given up by now: no answer
            return
        if body.get("model") != server.name:
            return self._send(404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}})
        self._send(200, server.complete(body))

    def _send(self, status: int, payload: Dict[str, Any], headers: Optional[Dict[str, str]] = None) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out meanwhile
            pass

    def log_message(self, format, *args) -> None:  # noqa: A002 - quiet: tests count requests instead
        pass
