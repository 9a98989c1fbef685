"""The documentation's hand-written tables that list methods or task kinds (docs/methods.md,
docs/tasks.md) list exactly the registries' entries, so a new method or kind (one module + one
YAML) is caught undocumented here, not by a reader. (The reference pages are generated.)"""

import re
from pathlib import Path

from ptlab.kinds import registry as kinds
from ptlab.methods import registry as methods

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _first_column(page: str, heading: str, header: str) -> list:
    """The first cell's leading word of each row of the table headed `header` under `heading`."""
    section = (DOCS / page).read_text(encoding="utf-8").split(f"{heading}\n", 1)[1]
    table = section.split(f"\n{header}\n", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in table.splitlines()[1:] if line.startswith("|")]  # [1:]: the |---| line
    return [re.match(r"\|\s*`?(\w+)", row).group(1) for row in rows]


def test_the_methods_table_lists_every_registered_method_once():
    listed = _first_column("methods.md", "# Methods", "| method | trains | via |")
    assert sorted(listed) == sorted(methods()), "docs/methods.md's table and ptlab/methods/ disagree"


def test_the_kinds_table_lists_every_registered_kind_once():
    listed = _first_column(
        "tasks.md", "## Task kinds: which family and method run", "| kind (tasks) | causal, seq2seq | encoder | api |"
    )
    assert sorted(listed) == sorted(kinds()), "docs/tasks.md's Task kinds table and ptlab/kinds/ disagree"
