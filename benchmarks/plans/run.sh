#!/usr/bin/env bash
# ptlab-plan's tables for the README's "Scaling up" and its checks against published GPU figures
# (benchmarks/plans/*.json are Hugging Face config.json files; nothing is downloaded):
#   PTLAB_DATA_DIR=../shared/data bash benchmarks/plans/run.sh   ->   benchmarks/plans/results/*.{md,json}
set -euo pipefail
cd "$(dirname "$0")/../.."
out=benchmarks/plans/results
mkdir -p "$out"
bf16=(task=sst2 trainer.precision=bf16-mixed +model.dtype=bfloat16)
plan() {  # NAME CONFIG ARGS...
  local name=$1 config=$2
  shift 2
  [ -s "$out/$name.md" ] && return  # done (delete it to plan again)
  ptlab-plan --config-json "benchmarks/plans/$config.json" "${bf16[@]}" --json "$out/$name.json" "$@" > "$out/$name.md"
}
# Llama-3-8B, batch 4 x 1024 tokens, bf16: one 24 GB card, one 80 GB card, four 80 GB cards
plan llama-3-8b-rtx4090 llama-3-8b --device rtx4090-24g --batch 4 --length 1024
plan llama-3-8b-a100 llama-3-8b --device a100-80g --batch 4 --length 1024
plan llama-3-8b-h100x4 llama-3-8b --device h100-80g --count 4 --batch 4 --length 1024
# peft's method_comparison (Llama-3.2-3B, batch 4, rows up to 768 tokens, bf16, L40S): LoRA r32 and full FT
plan peft-llama-3.2-3b-lora llama-3.2-3b --device l40s-48g --batch 4 --length 768 --methods lora method.r=32 method.alpha=64
plan peft-llama-3.2-3b-full llama-3.2-3b --device l40s-48g --batch 4 --length 768 --methods full_finetune
# QLoRA paper: LLaMA-65B finetuned on one 48 GB GPU (batch 1 x 512, checkpointing, LoRA r64 on every linear)
plan qlora-65b llama-65b --device l40s-48g --batch 1 --length 512 --methods qlora model.gradient_checkpointing=true
# LLaMA-Factory's README table (estimates, "18x / 2x / x/2 GB" for full, LoRA, 4-bit QLoRA of an x-B model): an 8B at
# the smallest setting (batch 1 x 512, checkpointing), where weights and optimizer state are nearly all of it
plan llamafactory-8b llama-3-8b --device a100-80g --batch 1 --length 512 --methods full_finetune,lora,qlora \
  model.gradient_checkpointing=true
