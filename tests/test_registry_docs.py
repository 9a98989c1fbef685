"""The README's tables that list methods or task kinds list exactly the registries' entries, so
a new method or kind (one module + one YAML) is caught undocumented here, not by a reader."""

import re
from pathlib import Path

from ptlab.kinds import registry as kinds
from ptlab.methods import registry as methods

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _first_column(heading: str, header: str) -> list:
    """The first cell's leading word of each row of the table headed `header` under `heading`."""
    section = README.split(f"\n{heading}\n", 1)[1]
    table = section.split(f"\n{header}\n", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in table.splitlines()[1:] if line.startswith("|")]  # [1:]: the |---| line
    return [re.match(r"\|\s*`?(\w+)", row).group(1) for row in rows]


def test_readme_methods_table_lists_every_registered_method_once():
    listed = _first_column("## Methods", "| method | trains | via |")
    assert sorted(listed) == sorted(methods()), "README.md's Methods table and ptlab/methods/ disagree"


def test_readme_kinds_table_lists_every_registered_kind_once():
    listed = _first_column(
        "### Task kinds: which family and method run", "| kind (tasks) | causal, seq2seq | encoder | api |"
    )
    assert sorted(listed) == sorted(kinds()), "README.md's Task kinds table and ptlab/kinds/ disagree"
