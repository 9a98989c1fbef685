"""What the API scorer reads from a completion answer, each reader refusing an answer that lacks it.

ptlab/models/api.py caches only an answer its reader accepts, and asks again for a cached one
that a reader refuses: a 200 that is JSON but not a completion must not be replayed from the cache.
"""

from __future__ import annotations

from typing import Any, Dict, Tuple


class Unusable(ValueError):
    """An answer that lacks what the scorer reads from it: never cached, and a cached one is asked again."""


def completion(response: Any) -> Dict[str, Any]:
    """The answer itself, if it is a completion: a JSON object whose `choices` holds an object."""
    choices = response.get("choices") if isinstance(response, dict) else None
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise Unusable(f"no choices[0]: the answer is {_shown(response)}")
    return response


def continuation(response: Any, start: int, end: int) -> Tuple[float, int]:
    """(sum, count) of the echoed log-probabilities of the tokens starting in text[start:end]; a
    token a server generates despite max_tokens=0 (vLLM may) starts at `end` or later: left out."""
    try:
        logprobs = completion(response)["choices"][0]["logprobs"]
        picked = [lp for at, lp in zip(logprobs["text_offset"], logprobs["token_logprobs"]) if start <= at < end]
        if picked and all(isinstance(lp, (int, float)) for lp in picked):
            return float(sum(picked)), len(picked)
    except (KeyError, IndexError, TypeError):
        raise Unusable(
            "no echoed log-probabilities (choices[0].logprobs.text_offset and token_logprobs); rank scoring "
            "needs an endpoint that supports echo=true with logprobs"
        ) from None
    raise Unusable(f"no scored token echoed for the answer text at characters {start}..{end}")


def generated(response: Any) -> str:
    """The completion's text, cut to its first line (a ptlab prediction is one line)."""
    text = completion(response)["choices"][0].get("text")
    if not isinstance(text, str):
        raise Unusable("no choices[0].text")
    return text.strip().split("\n")[0].strip()


def _shown(response: Any) -> str:
    """What an answer is, without its values (a server may echo the key back)."""
    if isinstance(response, dict):
        return f"an object with keys {', '.join(sorted(map(str, response))) or '(none)'}"
    return f"a JSON {type(response).__name__}"
