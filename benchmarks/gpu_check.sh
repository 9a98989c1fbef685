#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py), ready for a lent GPU machine with no network:
#   here (registry reachable):  bash benchmarks/gpu_check.sh fetch    -> .gpu_wheels/ (a few MB)
#   there (carry .gpu_wheels):  bash benchmarks/gpu_check.sh          -> benchmarks/results/gpu-check.json
# The machine's image has torch, transformers, peft and lightning; the wheels add what ptlab's
# configs need (Hydra, OmegaConf) at the versions constraints.txt pins. QLoRA rows read n/a where
# bitsandbytes is missing (its CUDA wheel is too large to carry). At most 8 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
wheels=.gpu_wheels
pins=$(grep -iE '^(hydra-core|omegaconf|antlr4-python3-runtime|pyahocorasick)==' constraints.txt)
if [ "${1:-}" = fetch ]; then
  pip download --no-deps --dest "$wheels" $pins
  exit
fi
for pin in $pins; do  # only what the image lacks
  python -c "import importlib.metadata as m, sys; sys.exit(m.version('${pin%%==*}') != '${pin##*==}')" 2>/dev/null \
    || pip install --quiet --no-index --no-deps --find-links "$wheels" "$pin"
done
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
export HF_HUB_OFFLINE=1 PYTHONPATH=. PTLAB_CACHE_DIR="${TMPDIR:-/tmp}/ptlab-gpu-check"
timeout 480 python benchmarks/gpu_check.py --out "${OUT:-benchmarks/results}/gpu-check.json" --budget-s 400 "$@"
