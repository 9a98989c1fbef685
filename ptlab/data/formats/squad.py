"""squad: the official nested SQuAD json ({"data": [{"title", "paragraphs": [{"context", "qas"}]}]}).

One record per question: title, context, question, id, and `answers`, the list of reference
answer texts. An article without a title (SQuAD-format sets of other sources) is named by its
position, `data[3]`, so `split_by: {column: title}` still keeps each document in one split.
Each answer is a non-empty text whose `answer_start` points at it in the context: anything else is
a data error named by its JSON path and question id (the file is one line, so a line number would
say nothing).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterator, List

from ptlab.data.formats import LocalFormat, Record, check_columns, read_utf8
from ptlab.errors import DataError

COLUMNS = ["title", "context", "question", "id", "answers", "answer_starts"]


class Squad(LocalFormat):
    name = "squad"

    def records(self, paths: List[Path], local, columns: Dict[str, str]) -> Iterator[Record]:
        [path] = paths
        check_columns(columns, COLUMNS, f"{path}: a squad file")
        try:
            data = json.loads(read_utf8(path))["data"]
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{err.lineno}: not valid JSON ({err.msg} at column {err.colno})") from None
        except (KeyError, TypeError):
            raise DataError(f'{path}: not a SQuAD file (no top-level "data" list)') from None
        for a, article in enumerate(data):
            for p, paragraph in enumerate(_get(article, "paragraphs", f"{path}: data[{a}]")):
                where = f"{path}: data[{a}].paragraphs[{p}]"
                context = _get(paragraph, "context", where)
                for q, qa in enumerate(_get(paragraph, "qas", where)):
                    at = f"{where}.qas[{q}]"
                    answers = [
                        _answer(answer, context, f"{at}.answers[{i}] (id {qa.get('id')})")
                        for i, answer in enumerate(_get(qa, "answers", at))
                    ]
                    if not answers:
                        raise DataError(f"{at} (id {qa.get('id')}): no reference answer")
                    record = {
                        "title": article.get("title", f"data[{a}]"),
                        "context": context,
                        "question": _get(qa, "question", at),
                        "id": _get(qa, "id", at),
                        "answers": answers,
                        # each answer's offset: span extraction trains on the annotated occurrence
                        "answer_starts": [answer["answer_start"] for answer in qa["answers"]],
                    }
                    yield at, record


def _get(node: Any, key: str, where: str) -> Any:
    if not isinstance(node, dict) or key not in node:
        raise DataError(f"{where}: no {key!r}")
    return node[key]


def _answer(answer: Any, context: str, where: str) -> str:
    text, start = _get(answer, "text", where), _get(answer, "answer_start", where)
    if not isinstance(text, str) or not text.strip():
        # "" sits at every answer_start: it would pass the check below and score an empty prediction as exact
        raise DataError(
            f"{where}: the answer text is {text!r}; an extractive-QA answer is a non-empty span of the context "
            f"(fix its text, or drop the answer)"
        )
    if not isinstance(start, int) or context[start : start + len(text)] != text:
        found = context[start : start + len(text)] if isinstance(start, int) else start
        raise DataError(f"{where}: answer_start={start} points at {found!r} in the context, not at the answer {text!r}")
    return text
