#!/usr/bin/env bash
# Flagship v3 (issue 23): the plan committed beforehand in experiments/flagship_v3/PLAN.md, one
# command on a 2-core CPU (estimated 108 min, 45 runs):
#   PTLAB_DATA_DIR=../shared/data bash experiments/flagship_v3/run.sh [LOG_DIR]
# SST-2 only; selection on the whole carved validation set (872 whole sentences, content-disjoint
# from the training pool); tuning on seed 0, every reported pick on fresh seeds 1-5; verdicts by
# verdicts.py's seed-aware contrasts at a +-3-point margin. A rerun skips finished runs. Budgets:
# experiments/experiment/flagship_v3_{smollm2,minilm}.yaml (flagship v2's, validation whole).
set -euo pipefail
cd "$(dirname "$0")/../.."
logs="${1:-outputs}"
sweep="$logs/flagship-v3"
out=experiments/flagship_v3
export PTLAB_LOG_DIR="$logs"
margin=3     # equivalence margin in accuracy points (PLAN.md); the sweep-end report is off
fresh=1,2,3,4,5
quiet=("~hydra.callbacks.report")  # one report at the end, not one per sweep
small=(-m experiment=flagship_v3_smollm2 task=sst2 "${quiet[@]}")
mini=(-m experiment=flagship_v3_minilm task=sst2 "${quiet[@]}")
mkdir -p "$sweep"
failed=0

# block NAME COMMAND...: run it, append its wall seconds to wall_seconds.tsv. A sweep with a
# failed run goes on (the report shows the failure; PLAN.md: never re-run with other settings);
# anything else failing stops here.
block() {
  local name=$1 start=$SECONDS
  shift
  "$@" || { [ "$1" = ptlab-train ] || exit 1; failed=1; echo "run.sh: $name: a run failed (see the report)" >&2; }
  printf '%s\t%d\n' "$name" $((SECONDS - start)) >> "$sweep/wall_seconds.tsv"
}
pick() {  # the override of one MiniLM method's pick on seed 0's validation (ptlab-report's tuned table)
  python experiments/flagship_v2/pick.py "$sweep/tuning/tuned.csv" minilm-l6 "$1"
}
printf 'block\tseconds\n' > "$sweep/wall_seconds.tsv"
begin=$SECONDS

# 1-3. Findings 1 and 2 (SmolLM2): zero-shot (deterministic: seed 0 only), in-context with each
#      fresh seed's 16 examples as demonstrations, and LoRA trained on the same 16 examples at a
#      fixed rate (lora's default, v2's pick; untuned, as in-context is).
block "1 smollm2 zero-shot" ptlab-train "${small[@]}" method=zero_shot seed=0
block "2 smollm2 in-context k=16" ptlab-train "${small[@]}" method=in_context data.k=16 seed=$fresh
block "3 smollm2 lora k=16" ptlab-train "${small[@]}" method=lora data.k=16 method.lr=1e-3 seed=$fresh

# 4-6. Findings 3 and 4 (MiniLM): each method's 10x grid on seed 0, the pick on fresh seeds.
block "4 minilm prompt tuning grid" ptlab-train "${mini[@]}" method=prompt_tuning method.lr=3e-3,1e-2,3e-2 seed=0
block "4 minilm prefix tuning grid" ptlab-train "${mini[@]}" method=prefix_tuning method.lr=6e-3,2e-2,6e-2 seed=0
block "4 minilm full FT grid" ptlab-train "${mini[@]}" method=full_finetune method.lr=3e-5,1e-4,3e-4 seed=0
block "5 tuning report" ptlab-report "$sweep" --out "$sweep/tuning" --margin $margin > /dev/null
for method in prompt_tuning prefix_tuning full_finetune; do
  choice=$(pick $method)
  block "6 minilm $method pick ($choice)" ptlab-train "${mini[@]}" method=$method "$choice" seed=$fresh
done

# 7. Finding 3 on SmolLM2: prompt tuning and full fine-tuning at v2's validation picks (not re-tuned).
block "7 smollm2 prompt tuning" ptlab-train "${small[@]}" method=prompt_tuning method.lr=0.1 seed=$fresh
block "7 smollm2 full FT" ptlab-train "${small[@]}" method=full_finetune method.lr=2e-5 seed=$fresh

# 8. Reports: the table (tuned picks on fresh seeds), the calibrated scores of the same runs, and
#    the pre-registered verdicts.
block "8 report" ptlab-report "$sweep" --out $out --margin $margin > /dev/null
block "8 calibrated report" ptlab-report "$sweep" --out $out/calibrated --metric accuracy_calibrated \
  --margin $margin > /dev/null
block "8 verdicts" python $out/verdicts.py "$sweep" --margin $margin --out $out/verdicts.md
printf 'total\t%d\n' $((SECONDS - begin)) >> "$sweep/wall_seconds.tsv"
cp "$sweep/wall_seconds.tsv" $out/wall_seconds.tsv
cat $out/wall_seconds.tsv
exit $failed
