#!/usr/bin/env bash
# NER written by an LM (issue 24): SmolLM2-135M-Instruct on CoNLL-2003 through the task's
# lm_template (entities as "TYPE: span; ..." lines, parsed back to IOB2, seqeval entity F1):
#  1. zero-shot;
#  2. in-context with k = 4 training sentences as demonstrations;
#  3. LoRA on 500 training sentences, 100 steps of batch 8 (lora's default rate), validation on
#     50 sentences every 50 steps (the best checkpoint is scored on test).
# Every run scores the same first 100 test sentences (data.test_limit keeps the subset fixed). One
# seed: a small-budget figure, not a comparison (no interval). About 25 min on a 2-core CPU.
#   PTLAB_DATA_DIR=../shared/data bash experiments/ner_lm/run.sh [log_dir]
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-outputs/ner_lm}"
common=(model=smollm2-135m task=conll2003 name=ner_lm paths.log_dir="$out" data.test_limit=100 data.eval_limit=50
  seed=0 trainer.enable_progress_bar=false)
ptlab-train -m "${common[@]}" method=zero_shot
ptlab-train -m "${common[@]}" method=in_context data.k=4
ptlab-train -m "${common[@]}" method=lora data.k=500 data.batch_size=8 trainer.max_steps=100 trainer.val_check_interval=50
ptlab-report "$out/ner_lm" --out experiments/ner_lm
