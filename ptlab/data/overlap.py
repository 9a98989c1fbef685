"""Content overlap between texts: one contained in the other, word for word, after normalisation.

Normalised, a text is its Unicode NFKC form, case-folded, split into word and punctuation tokens
and joined by single spaces, with a space at each end. So case, runs of whitespace and spacing
around punctuation do not matter (SST-2's tokenized "it 's" equals "It's"), and containment is
word-aligned: "a good film" contains "good film" but "goodness" does not contain "good". Equal
texts contain each other.

Containment among tens of thousands of texts is found with Aho-Corasick automata (pyahocorasick),
in seconds for SST-2's 67k training texts, where a pairwise check would take hours.
"""

from __future__ import annotations

import bisect
import re
import statistics
import unicodedata
from typing import Dict, List, Optional, Sequence, Set

import ahocorasick

TOKENS = re.compile(r"\w+|[^\w\s]")


def normalise(text: str) -> str:
    """The form containment is checked on (see the module docstring); empty text stays empty."""
    tokens = TOKENS.findall(unicodedata.normalize("NFKC", text).casefold())
    return f" {' '.join(tokens)} " if tokens else ""


def _automaton(texts: Sequence[str]) -> Optional[ahocorasick.Automaton]:
    """Finds, in a text, the indices of the non-empty `texts` it contains (None: there are none)."""
    found = ahocorasick.Automaton(ahocorasick.STORE_INTS)
    for i, text in enumerate(texts):
        if text:
            found.add_word(text, i)
    if not len(found):
        return None
    found.make_automaton()
    return found


def parts(texts: Sequence[str]) -> Set[int]:
    """Indices of the normalised `texts` that are a proper part of another of them (SST-2's
    train holds every phrase of its sentences, and a phrase is a part of its sentence)."""
    if len(set(texts)) < len(texts):
        raise ValueError("parts() takes distinct texts: an equal text is not a proper part")
    found, contained = _automaton(texts), set()
    for i, text in enumerate(texts if found else ()):
        contained.update(j for _, j in found.iter(text) if j != i)
    return contained


def overlapping(probes: Sequence[str], items: Sequence[Sequence[str]]) -> List[int]:
    """Indices of `items` (each a list of normalised texts) holding a text that contains, or is
    contained in, one of the normalised `probes`. Probes contained in a text are found by an
    automaton of the probes; texts contained in a probe by binary search among the probes'
    word-aligned suffixes (a text is a part of a probe iff it begins one of its suffixes)."""
    probes = sorted({p for p in probes if p})
    if not probes:
        return []
    inside = _automaton(probes)
    suffixes = sorted(p[i:] for p in probes for i in range(len(p) - 1) if p[i] == " ")

    def part_of_a_probe(text: str) -> bool:
        at = bisect.bisect_left(suffixes, text)
        return at < len(suffixes) and suffixes[at].startswith(text)

    return [
        i
        for i, texts in enumerate(items)
        if any(t and (next(inside.iter(t), None) is not None or part_of_a_probe(t)) for t in texts)
    ]


def word_counts(examples: Sequence[Sequence[str]]) -> Dict[str, float]:
    """Mean and median of the examples' lengths in whitespace-separated words (all of an
    example's texts together), as the issue's SST-2 comparison counts them."""
    counts = [sum(len(t.split()) for t in texts) for texts in examples]
    if not counts:
        return {}
    return {"mean": round(statistics.fmean(counts), 2), "median": float(statistics.median(counts))}
