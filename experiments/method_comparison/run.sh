#!/usr/bin/env bash
# The PEFT family side by side (issue 25), one command on a 2-core CPU (plan: PLAN.md):
#   PTLAB_DATA_DIR=../shared/data bash experiments/method_comparison/run.sh [LOG_DIR]
# MODELS="minilm" (or "smollm2") runs one model's half; the final report reads every run in the sweep.
# The nine trained methods on SST-2 with MiniLM-L6 and SmolLM2-135M: each method's own
# lr_grid (conf/method/<name>.yaml, hparams_search=grid) on seed 0, ptlab-report's tuned table picks
# each method's rate on validation, the picks run on fresh seeds 1-3; then the report (significance,
# Pareto: quality vs trainable parameters, peak memory, train time). A method that does not apply to
# a model (BitFit on Llama: no biases) is skipped as n/a. A rerun skips finished runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
logs="${1:-outputs}"
sweep="$logs/method-comparison"
out=experiments/method_comparison
export PTLAB_LOG_DIR="$logs"
fresh=1,2,3
quiet=("~hydra.callbacks.report")
models="${MODELS:-minilm smollm2}"
methods="prompt_tuning p_tuning prefix_tuning ia3 bitfit adapter lora adalora full_finetune"
mkdir -p "$sweep"
[ -f "$sweep/wall_seconds.tsv" ] || printf 'block\tseconds\n' > "$sweep/wall_seconds.tsv"
begin=$SECONDS
block() {  # NAME COMMAND...: run it, log its wall seconds; a failed run is the report's to show
  local name=$1 start=$SECONDS
  shift
  "$@" || echo "run.sh: $name: a run failed (see the report)" >&2
  printf '%s\t%d\n' "$name" $((SECONDS - start)) >> "$sweep/wall_seconds.tsv"
}
for model in $models; do
  for method in $methods; do
    block "$model $method grid" ptlab-train -m experiment=method_comparison_$model task=sst2 "${quiet[@]}" \
      method=$method hparams_search=grid seed=0
  done
done
block "tuning report" ptlab-report "$sweep" --out "$sweep/tuning" > /dev/null
for short in $models; do
  model=$(case $short in minilm) echo minilm-l6 ;; smollm2) echo smollm2-135m ;; esac)
  for method in $methods; do
    choice=$(python experiments/flagship_v2/pick.py "$sweep/tuning/tuned.csv" "$model" "$method" 2>/dev/null) || continue
    block "$short $method pick ($choice)" ptlab-train -m experiment=method_comparison_$short task=sst2 \
      "${quiet[@]}" method=$method "$choice" seed=$fresh
  done
done
block "report" ptlab-report "$sweep" --out $out --margin 3 > /dev/null
printf 'total (%s)\t%d\n' "$models" $((SECONDS - begin)) >> "$sweep/wall_seconds.tsv"
cp "$sweep/wall_seconds.tsv" $out/wall_seconds.tsv
cat $out/wall_seconds.tsv
