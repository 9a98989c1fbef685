"""Over-long prompts: what was cut, and a way to cut one field instead of the prompt's start.

A prompt longer than `task.max_source_length` loses its start on an LM (the answer cue sits at
its end) and its end on an encoder. For extractive QA or summarization that silently removes the
passage the answer is in, so every cut is recorded per row (`truncated`, and `answer_lost` where a
reference answer occurs in the prompt and no longer does once cut), counted per split in
results.json, and `task.truncate_field` shortens one template field (the context) from its end
instead, so the question and the answer cue stay whole.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

NO_ANSWER = -1  # `answer_lost` of a row whose references do not occur in its prompt (or that has none)


def fitted_fields(reader, fields: Dict[str, str]) -> Dict[str, str]:
    """`fields` with `task.truncate_field` cut (token by token, from its end) until the filled-in
    template fits max_source_length (counting the tokenizer's special tokens); unchanged if it
    fits already. Marks the reader's current row as truncated when it cuts."""
    name, template, limit = reader.task.truncate_field, reader.task.selected.text, reader.task.max_source_length
    over = _length(reader, template.format(**fields)) - limit
    if over <= 0:
        return fields
    ids = reader.tokenizer(fields[name], add_special_tokens=False)["input_ids"]
    keep = len(ids) - over
    while True:  # re-tokenizing the joint text can merge or split a token at the cut: step until it fits
        cut = {**fields, name: reader.tokenizer.decode(ids[: max(keep, 0)]).rstrip()}
        if keep <= 0 or _length(reader, template.format(**cut)) <= limit:
            reader.truncated = True
            return cut
        keep -= 1


def _length(reader, text: str) -> int:
    return len(reader.tokenizer(text)["input_ids"])


def row_flags(reader, full_prompt: str, kept_prompt: str, references: List[Optional[str]]) -> Dict[str, Any]:
    """The row's `truncated` (0/1) and `answer_lost` (1: a reference answer that the full prompt
    holds is in no part of what was kept; 0: one still is; NO_ANSWER: no reference occurs in the
    prompt, so the question does not apply, e.g. a label), unless the kind said (`answer_lost`)."""
    kept = _norm(reader.kept_text if reader.kept_text is not None else kept_prompt)
    full = _norm(full_prompt)
    findable = [r for r in (_norm(r or "") for r in references) if r and r in full]
    lost = NO_ANSWER if not findable else int(not any(r in kept for r in findable))
    if reader.answer_lost is not None:  # the kind knows better (NER: a cut word carried an entity)
        lost = int(reader.answer_lost)
    return {"truncated": int(reader.truncated), "answer_lost": lost}


def _norm(text: str) -> str:
    return " ".join(text.split())


def split_counts(rows) -> Dict[str, Any]:
    """Per encoded split: its prompts, how many were cut, and (None where no row's answer occurs
    in its prompt) how many lost every occurrence of their answer. Summed by arrow: iterating a
    column of a large split row by row in Python takes seconds."""
    import pyarrow.compute as pc

    table = rows.with_format("arrow")
    cut = pc.sum(table["truncated"]).as_py() if "truncated" in rows.column_names and len(rows) else 0
    lost = table["answer_lost"] if "answer_lost" in rows.column_names else None
    known = pc.filter(lost, pc.not_equal(lost, NO_ANSWER)) if lost is not None else []
    return {
        "prompts": len(rows),
        "truncated": int(cut or 0),
        "answers_lost": int(pc.sum(known).as_py()) if len(known) else None,
    }


def note(counts: Dict[str, Dict[str, Any]], task) -> Optional[str]:
    """One console line when any split had prompts cut; None when none was."""
    cut = {split: c for split, c in counts.items() if c["truncated"]}
    if not cut:
        return None
    parts = [
        f"{split} {c['truncated']} of {c['prompts']}"
        + (f" (answer lost in {c['answers_lost']})" if c["answers_lost"] else "")
        for split, c in cut.items()
    ]
    how = (
        f"task.truncate_field={task.truncate_field} was cut from its end"
        if task.truncate_field
        else "LMs drop a prompt's start, encoders its end; task.truncate_field=<field> cuts one field instead"
    )
    return (
        f"prompts longer than task.max_source_length={task.max_source_length} tokens were cut: "
        f"{', '.join(parts)}; {how} (results.json: truncation)"
    )
