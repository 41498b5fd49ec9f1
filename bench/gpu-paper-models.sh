#!/usr/bin/env bash
# Issue 9's GPU figures in one go (a lent GPU machine has minutes, not hours): the real trainer on randomly
# initialised paper-model architectures, each config in its own process with its own time limit, logs and
# JSON lines under ${OUT:-/tmp/msm-gpu-bench}. Usage: bash bench/gpu-paper-models.sh [seconds per config] [config ...]
# (no config names: the ones issue 9 measured).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../trainer"
out="${OUT:-/tmp/msm-gpu-bench}"
limit="${1:-170}"
shift || true
chosen=("$@")
mkdir -p "$out"
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1 MSM_TORCH_THREADS=8
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
python -c 'import torch, transformers, peft; print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__)' | tee -a "$out/gpu.txt"
run() { # name, then bench_train arguments
  local name=$1; shift
  if [ ${#chosen[@]} -gt 0 ] && [[ " ${chosen[*]} " != *" $name "* ]]; then return; fi
  if [ ${#chosen[@]} -eq 0 ] && [[ $name == *-sac* || $name == *-micro2 ]]; then return; fi
  echo "=== $name: $*"
  timeout "$limit" python -m msm_trainer.bench_train "$@" > "$out/$name.log" 2>&1
  echo "exit $?"
  grep -E '^(NVIDIA|cpu|\{)' "$out/$name.log" | tail -2
  grep -E 'Error|error' "$out/$name.log" | grep -v '^{' | tail -4
}
run smoke --preset tiny --steps 4 --batch 2 --micro 1 --seq 256 --method lora --warmup 1
run llama8b-lora --preset llama-3.1-8b --method lora --seq 4096 --batch 8 --micro 2 --steps 10 --warmup 4 --compile
run qwen32b-lora --preset qwen2.5-32b --method lora --seq 4096 --batch 4 --micro 1 --steps 7 --warmup 3 --compile --grad-ckpt
# Checkpointing half the layers (every second one) and a larger micro-batch: the two ways past full checkpointing's
# recomputed forward for 32B LoRA on one GPU (run by name).
run qwen32b-lora-sac --preset qwen2.5-32b --method lora --seq 4096 --batch 4 --micro 1 --steps 6 --warmup 3 --compile --grad-ckpt 0.5
run qwen32b-lora-micro2 --preset qwen2.5-32b --method lora --seq 4096 --batch 4 --micro 2 --steps 6 --warmup 3 --compile --grad-ckpt
run llama8b-full --preset llama-3.1-8b --method full --seq 4096 --batch 4 --micro 1 --steps 8 --warmup 3 --compile --grad-ckpt
grep -h '^{' "$out"/*.log > "$out/results.jsonl"
