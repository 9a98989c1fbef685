#!/usr/bin/env bash
# Flagship v2 (issue 14): every method, tuned per method, selected on validation carved from train,
# reported on the official dev sets, 3 seeds, with significance; one command on a 2-core CPU:
#   PTLAB_DATA_DIR=../shared/data bash experiments/flagship_v2/run.sh [LOG_DIR]
# Budgets: experiments/experiment/flagship_v2_{smollm2,minilm}.yaml. A rerun skips finished runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
logs="${1:-outputs}"
sweep="$logs/flagship-v2"
export PTLAB_LOG_DIR="$logs"
quiet=("~hydra.callbacks.report")  # one report at the end, not one per sweep
small=(-m experiment=flagship_v2_smollm2 "${quiet[@]}")
mini=(-m experiment=flagship_v2_minilm "${quiet[@]}")

# 1. Prompting baselines (SmolLM2; MiniLM has no LM head). Raw, calibrated and PMI accuracy come
#    from the same runs; three SST-2 templates for the spread across templates (Zhao et al., 2021).
ptlab-train "${small[@]}" method=zero_shot task=sst2 task.template=review,tagged,it_was
ptlab-train "${small[@]}" method=zero_shot task=rte,copa
ptlab-train "${small[@]}" method=in_context task=sst2 data.k=16 seed=0,1,2
ptlab-train "${small[@]}" method=in_context task=rte data.k=4 seed=0,1,2
ptlab-train "${small[@]}" method=in_context task=copa data.k=8 seed=0,1,2

# 2. Tuning on SST-2, seed 0: MiniLM over each method's own grid (method.lr_grid, the grid
#    preset); SmolLM2, ~2x dearer per run, over the part of it that brackets each method's default.
for method in prompt_tuning prefix_tuning lora full_finetune; do
  ptlab-train "${mini[@]}" hparams_search=grid method=$method task=sst2 seed=0
done
ptlab-train "${small[@]}" method=prompt_tuning task=sst2 method.lr=1e-2,3e-2,0.1 seed=0
ptlab-train "${small[@]}" method=prefix_tuning task=sst2 method.lr=1e-3,5e-3,2e-2 seed=0
ptlab-train "${small[@]}" method=lora task=sst2 method.lr=3e-4,1e-3 seed=0
ptlab-train "${small[@]}" method=full_finetune task=sst2 method.lr=2e-5,5e-5 seed=0

# 3. Each method's pick (best validation accuracy; ptlab-report's tuned table), run with seeds 1, 2.
ptlab-report "$sweep" --out "$sweep/tuning" > /dev/null
pick() { python experiments/flagship_v2/pick.py "$sweep/tuning/tuned.csv" "$@"; }
for method in prompt_tuning prefix_tuning lora full_finetune; do
  ptlab-train "${mini[@]}" method=$method task=sst2 "$(pick minilm-l6 $method)" seed=1,2
  ptlab-train "${small[@]}" method=$method task=sst2 "$(pick smollm2-135m $method)" seed=1,2
done

# 4. Few-shot PEFT at the in-context k (Liu et al., 2022): LoRA on the same 16 examples.
ptlab-train "${small[@]}" method=lora task=sst2 data.k=16 "$(pick smollm2-135m lora)" seed=0,1,2

# 5. COPA (multiple choice) with MiniLM at its SST-2 picks: the transfer of a tuned rate.
for method in prompt_tuning prefix_tuning lora full_finetune; do
  ptlab-train "${mini[@]}" method=$method task=copa "$(pick minilm-l6 $method)" seed=0,1,2
done

# 6. The report: accuracy (tuned table, significance, Pareto and learning-rate plots), then the
#    calibrated scores of the same runs.
ptlab-report "$sweep" --out experiments/flagship_v2
ptlab-report "$sweep" --out experiments/flagship_v2/calibrated --metric accuracy_calibrated > /dev/null
