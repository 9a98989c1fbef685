#!/usr/bin/env bash
# Prompting baselines on CPU: SmolLM2-135M on the full SST-2 and RTE dev sets.
#  1. zero-shot over every shipped template (raw, calibrated and PMI scores come with each run);
#  2. in-context k = 4 and 16, seeds 0-2 (the demonstrations are each seed's k-shot draw).
# Then one ptlab-report over all of it (with its prompt-sensitivity section).
#   PTLAB_DATA_DIR=../shared/data bash experiments/prompting_cpu/run.sh [log_dir]
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-outputs/prompting_cpu}"
common=(model=smollm2-135m name=prompting_cpu paths.log_dir="$out" trainer.enable_progress_bar=false)
ptlab-train -m "${common[@]}" method=zero_shot task=sst2 task.template=review,question,it_was,yes_no,tagged,critic
ptlab-train -m "${common[@]}" method=zero_shot task=rte task.template=true_false,follows,given_that,gpt3_style,tagged
ptlab-train -m "${common[@]}" method=in_context task=sst2,rte data.k=4,16 seed=0,1,2
ptlab-report "$out/prompting_cpu" --out experiments/prompting_cpu
