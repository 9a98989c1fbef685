"""How many prompts of each shipped task are cut to its max_source_length, and how many lose their
answer with it (results.json's `truncation`, without running a model): every split, as drawn.

    PTLAB_DATA_DIR=../shared/data python benchmarks/truncation.py [--models smollm2-135m minilm-l6]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import REPO, make_run  # noqa: E402


def counts(model: str, task: str, cache: str) -> dict:
    from ptlab.run.build import build_data
    from ptlab.errors import PtlabError

    method = "full_finetune"  # reads (and encodes) every split, the training split included
    extra = [f"paths.data_dir={os.environ['PTLAB_DATA_DIR']}", "data.k=null", "data.eval_limit=null"]
    try:
        return build_data(make_run(model, method, task, cache, *extra)).truncation
    except PtlabError as err:  # e.g. an encoder on a generation task: not applicable
        return {"n/a": str(err).splitlines()[0][:80]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["smollm2-135m", "minilm-l6"])
    args = parser.parse_args()
    tasks = sorted(p.stem for p in (REPO / "conf" / "task").glob("*.yaml"))
    print("| model | task | split | prompts | cut | answers lost |\n|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as cache:
        for model in args.models:
            for task in tasks:
                for split, c in counts(model, task, cache).items():
                    if split == "n/a":
                        print(f"| {model} | {task} | n/a: {c} | | | |")
                        continue
                    lost = "–" if c["answers_lost"] is None else c["answers_lost"]
                    print(f"| {model} | {task} | {split} | {c['prompts']} | {c['truncated']} | {lost} |", flush=True)


if __name__ == "__main__":
    main()
