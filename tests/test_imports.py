"""The package's import graph has no cycles, imports only downward through the layers the README
draws, imports no other module's private names, and no module is over 300 lines (one that grows
past it is split by concern).

Every `import`/`from ... import` of a ptlab module counts, at module level or inside a function (an
import moved into a function to dodge a cycle is still one), except under `if TYPE_CHECKING:` (never
executed). A cycle is a strongly connected component of more than one module; an import of a
package's submodule resolves to that submodule, of a name to the module that defines it.
"""

from __future__ import annotations

import ast
import fnmatch
import textwrap
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ptlab"
README = PACKAGE.parent / "README.md"

# The layers, top first: a module imports only from its own layer and those below it. A module is
# in the layer that names it exactly, else in the one with the longest pattern that matches it.
LAYERS = [
    ("entry points", ["train", "hydra_callbacks", "report.cli", "report.__main__", "planning.cli"]),
    ("a run's life", ["run.execution"]),
    ("reporting, planning", ["report", "report.*", "planning", "planning.*"]),
    ("training", ["run.*"]),
    ("plug-ins", ["methods.*", "kinds.*", "data.formats.*"]),
    ("models, data, scoring", ["models", "models.*", "data", "data.*", "scoring", "scoring.*"]),
    (
        "configuration, records",
        ["config", "config.*", "methods", "kinds", "kinds.fields", "data.formats", "data.sources", "data.columns"]
        + ["data.carve", "data.overlap", "data.sampling", "models.ending", "models.architecture"]
        + ["models.training_memory", "run.fingerprint", "run.record", "run.decision", "run.cache_files"]
        + ["run.launch", "run.lock", "run.preemption"],
    ),
    (
        "base",
        ["", "errors", "plugins", "run", "run.directory", "run.library_output", "run.rng_state", "config.origin"]
        + ["data.example"]
        + ["config.yaml_keys", "config.result_keys", "scoring.example_stats"],
    ),
]


def layer_of(module: str) -> int:
    """The index in LAYERS of a module (`ptlab.x.y` -> `x.y`)."""
    name = module.removeprefix("ptlab").removeprefix(".")
    exact = [i for i, (_, names) in enumerate(LAYERS) if name in names]
    if exact:
        return exact[0]
    matches = [(len(p), i) for i, (_, names) in enumerate(LAYERS) for p in names if fnmatch.fnmatch(name, p)]
    assert matches, f"{module} is in no layer of tests/test_imports.py's LAYERS"
    return max(matches)[1]


def diagram() -> str:
    """LAYERS as the README draws them, top first, each row wrapped at 100 columns."""
    width = max(len(name) for name, _ in LAYERS) + 2
    rows = []
    for name, names in LAYERS:
        listed = ", ".join(n or "ptlab" for n in names)
        rows += textwrap.wrap(listed, 100, initial_indent=f"{name:<{width}}", subsequent_indent=" " * width)
    return "\n".join(rows)


def _modules(package: Path) -> Dict[str, Path]:
    found = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _type_checking_nodes(tree: ast.AST) -> Set[int]:
    skipped = set()
    for node in ast.walk(tree):
        test = getattr(node, "test", None)
        if isinstance(node, ast.If) and getattr(test, "id", getattr(test, "attr", None)) == "TYPE_CHECKING":
            skipped |= {id(inner) for inner in ast.walk(node)}
    return skipped


def _parents(module: str, root: str) -> List[str]:
    """The packages Python initializes before `module`, below the root package (a.b for a.b.c)."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts))]


def import_graph(package: Path) -> Tuple[Dict[str, Set[str]], List[Tuple[str, str]]]:
    """Each module's ptlab imports (by module), and every (importer, module.private_name) import."""
    modules = _modules(package)
    root = package.name

    def owner(name: str) -> str:
        while name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph: Dict[str, Set[str]] = {name: set() for name in modules}
    private = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        skipped = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names if alias.name.split(".")[0] == root]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
                if base.split(".")[0] != root:
                    continue
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
                private += [(name, f"{base}.{a.name}") for a in node.names if a.name.startswith("_")]
            else:
                continue
            graph[name] |= {owner(t) for t in targets} - {name}
    # Importing a.b.c runs a/__init__ and a/b/__init__ first (unless the importer is inside them, where
    # they already run): an __init__ that imports something is then imported too.
    for name in graph:
        inside = set(_parents(name, root)) | {name}
        graph[name] |= {p for t in list(graph[name]) for p in _parents(t, root) if p not in inside and graph.get(p)}
    return graph, private


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    found: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_ptlab_has_no_import_cycle():
    graph, _ = import_graph(PACKAGE)
    assert len(graph) > 50 and graph["ptlab.train"] >= {"ptlab.run.execution"}  # it read the real package
    assert cycles(graph) == []


def test_every_import_goes_down_the_layers_the_readme_draws():
    graph, _ = import_graph(PACKAGE)
    upward = sorted(
        (module, LAYERS[layer_of(module)][0], target, LAYERS[layer_of(target)][0])
        for module, targets in graph.items()
        for target in targets
        if layer_of(target) < layer_of(module)
    )
    assert upward == []
    assert diagram() in README.read_text(encoding="utf-8"), diagram()


def test_no_module_imports_another_modules_private_names():
    _, private = import_graph(PACKAGE)
    assert private == []


def test_no_module_is_over_300_lines():
    lengths = {
        str(path.relative_to(PACKAGE.parent)): len(path.read_text().splitlines()) for path in PACKAGE.rglob("*.py")
    }
    assert len(lengths) > 50 and {path: n for path, n in lengths.items() if n > 300} == {}


@pytest.mark.parametrize(
    "files,expected",
    [
        ({"a.py": "from pkg import b\n", "b.py": "def f():\n    from pkg.a import x\n"}, [["pkg.a", "pkg.b"]]),
        (
            {"a.py": "import pkg.b\n", "b.py": "from . import c\n", "c.py": "from .a import y\n"},
            [["pkg.a", "pkg.b", "pkg.c"]],
        ),
        (
            {
                "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n",
                "b.py": "import pkg.a\n",
            },
            [],
        ),
        ({"sub/__init__.py": "from pkg.sub.m import M\n", "sub/m.py": "X = 1\n"}, []),
        (  # importing sub.m runs sub/__init__, which imports a: a cycle only through the package
            {"a.py": "from pkg.sub.m import X\n", "sub/__init__.py": "from pkg.a import Y\n", "sub/m.py": "X = 1\n"},
            [["pkg.a", "pkg.sub"]],
        ),
    ],
)
def test_the_check_finds_a_cycle_in_a_constructed_package(tmp_path, files, expected):
    """The detector on packages built to have (or not have) a cycle: through a function-level import,
    relative imports, a TYPE_CHECKING import (not one), a package importing its own submodule (not one)."""
    package = tmp_path / "pkg"
    for relative, text in {"__init__.py": "", **files}.items():
        (package / relative).parent.mkdir(parents=True, exist_ok=True)
        (package / relative).write_text(text)
    assert cycles(import_graph(package)[0]) == expected
