"""Every `ptlab-train` command the README and the documentation show composes and validates, as
ptlab-train would before anything loads: the docs cannot rot into commands that no longer run.

A command is read from a fenced code block (a line continued with `\\` joined, a trailing `# ...`
comment cut); a sweep (`-m`, `a,b,c` values) is checked at every point. Hydra's own overrides
(`hydra/launcher=slurm`, `hydra.launcher.partition=gpu`) are composed with Hydra's config, so a
misspelt launcher option fails here too.
"""

from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path
from typing import List

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
COMMAND = re.compile(r"^\s*(?:[A-Z_]+=\S*\s+)*ptlab-train(\s|$)")


def commands(text: str) -> List[str]:
    """The ptlab-train command lines of the fenced blocks of a Markdown page."""
    found = []
    for block in FENCE.findall(text):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            if not COMMAND.match(line):  # a shell line that runs ptlab-train (VAR=value before it)
                continue
            words = shlex.split(line, comments=True)
            found.append(shlex.join(words[words.index("ptlab-train") + 1 :]))
    return found


DOC_COMMANDS = [(page.relative_to(ROOT).as_posix(), c) for page in PAGES for c in commands(page.read_text())]


def sweep_points(args: List[str]) -> List[List[str]]:
    """Each point of a sweep: `key=a,b` values split (not inside brackets or quotes), `-m` dropped."""
    overrides, choices = [], []
    for arg in args:
        if arg in ("-m", "--multirun"):
            continue
        key, _, value = arg.partition("=")
        if "[" not in value and "," in value and not key.startswith("hydra."):
            choices.append([f"{key}={v}" for v in value.split(",")])
        else:
            overrides.append(arg)
    return [overrides + list(point) for point in itertools.product(*choices)]


def test_the_docs_show_the_commands_this_test_reads():
    pages = {page for page, _ in DOC_COMMANDS}
    assert {"README.md", "docs/running.md", "docs/howto/slurm.md", "docs/howto/tune.md"} <= pages
    assert len(DOC_COMMANDS) >= 20
    assert commands("```bash\nX=1 ptlab-train a=1 \\\n  b=2,3  # note\n```\n") == ["a=1 b=2,3"]
    assert sweep_points(["-m", "a=1,2", "b=[x,y]", "c=3,4"]) == [
        ["b=[x,y]", "a=1", "c=3"],
        ["b=[x,y]", "a=1", "c=4"],
        ["b=[x,y]", "a=2", "c=3"],
        ["b=[x,y]", "a=2", "c=4"],
    ]


@pytest.mark.parametrize("page,command", DOC_COMMANDS, ids=[f"{p}:{c[:60]}" for p, c in DOC_COMMANDS])
def test_a_documented_command_composes_and_validates(page, command, data_dir, shared_cache, tmp_path):
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from ptlab.config import resolvers
    from ptlab.config.validation import validate

    resolvers.register()
    args = shlex.split(command)
    if "--cfg" in args:  # `--cfg job`: prints the config; the rest is what it composes
        at = args.index("--cfg")
        args = args[:at] + args[at + 2 :]
    fixed = [f"paths.data_dir={data_dir}", f"paths.cache_dir={shared_cache}", f"paths.output_dir={tmp_path}"]
    for point in sweep_points(args):
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            cfg = compose("train", overrides=[*point, *fixed], return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)  # as under ptlab-train: ${hydra:...} resolves
        with open_dict(cfg):
            del cfg["hydra"]
        validate(cfg)
