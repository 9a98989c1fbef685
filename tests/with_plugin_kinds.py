"""`python tests/with_plugin_kinds.py <module> <args>`: run a ptlab console module (ptlab.train,
ptlab.report) as `python -m <module> <args>` would, with the task kinds in tests/plugin_kinds/ on
the `ptlab.kinds` package path, where ptlab finds its own kinds (ptlab/plugins.py): a newcomer's
kind module, tested as it would run from ptlab/kinds/ without adding it to ptlab."""

import runpy
import sys
from pathlib import Path

import ptlab.kinds

ptlab.kinds.__path__.append(str(Path(__file__).resolve().parent / "plugin_kinds"))
module = sys.argv.pop(1)
runpy.run_module(module, run_name="__main__", alter_sys=True)
