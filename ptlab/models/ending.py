"""Where a generated prediction ends: its stop sequences, and what a stop before the answer means.

The prediction is the generated text cut at the earliest stop sequence (the newline that ends a
one-line answer, eos, a task's `stop` list) and stripped: lm-eval's `until` handling
(`postprocess_generated_text`) and the OpenAI API's `stop`. One choice is the run's
(`decode.stop_at_start`): a model often starts its answer on a new line, and those rules cut such a
generation to "". ptlab's default reads past stops before the first non-space character (the
answer on the next line is the prediction); `decode.stop_at_start=true` is lm-eval's rule exactly,
for numbers comparable with it. Torch-free: the configs build it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple


@dataclass(frozen=True)
class Ending:
    stops: Tuple[str, ...]
    stop_at_start: bool = False  # True: lm-eval's `until` (a leading stop ends the prediction at "")

    def _text(self, text: str) -> str:
        return text if self.stop_at_start else text.lstrip()

    def cut(self, text: str) -> str:
        """The prediction in a generated text."""
        text = self._text(text)
        ends = [text.find(stop) for stop in self.stops if stop in text]
        return (text[: min(ends)] if ends else text).strip()

    def ended(self, text: str) -> bool:
        """Whether generating more could not change the prediction: the text holds a stop that counts."""
        text = self._text(text)
        return any(stop in text for stop in self.stops)

    def server_stops(self) -> List[str]:
        """What an API server (which stops at the first occurrence anywhere) can be asked to stop at
        without changing the prediction: under ptlab's rule, a whitespace-only stop could come before
        the answer, so the client cuts at it instead."""
        return [s for s in self.stops if self.stop_at_start or s.strip()]
