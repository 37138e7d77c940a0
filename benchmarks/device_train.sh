#!/usr/bin/env bash
# Issue 15's retrieval candidates that do not fit 2 CPU cores, trained in one run on a lent GPU machine from a bundle
# prepared here (benchmarks/gpu_train.py --prepare; see its docstring). Each adapter lands in $OUT/<name> (a few MB)
# with its log; nothing here reads the held-out panel: that happens back here, once, for the candidate validation
# picks. Every run is the shipped retrieval command (its model card) at 256 tokens, whole SciFact abstracts:
#   shipped-256      the shipped settings
#   linear-256       LoRA on every linear layer, equal source shares, 500 steps (the best CPU candidate)
#   linear-256-b128  the same with 128 queries a batch and 1,000 steps (more in-batch negatives, more data seen)
#   linear-256-s7    linear-256 with seed 7 (what another seed moves)
#
#   bash benchmarks/device_train.sh .taskvec/train_bundle      # there, carrying .taskvec/train_bundle
set -euo pipefail
bundle=${1:-.taskvec/train_bundle}
out=${OUT:-/tmp/device-train}
[ -f "$bundle/bundle.json" ] || { echo "No bundle at $bundle: run python benchmarks/gpu_train.py --prepare $bundle first." >&2; exit 2; }
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total --format=csv || true
common=(--device auto --evals-per-epoch 2 --patience 3 --val-fraction 0.15 --val-corpus 500 --lr 1e-4
        --mine-negatives 1 --max-seq-length 256)
linear=(--target-modules query key value attention.output.dense intermediate.dense output.dense --mix-temperature 0)
run() {
  local name=$1; shift
  echo "== $name $(date -u +%T)"
  python3 benchmarks/gpu_train.py --bundle "$bundle" --out "$out/$name" "${common[@]}" "$@" 2>&1 | tee "$out/$name.log" | grep -E "^step|saved|Error" || true
}
run shipped-256 --max-steps 400 --mix-temperature 0.5
run linear-256 --max-steps 500 "${linear[@]}"
run linear-256-b128 --max-steps 1000 --batch-size 128 "${linear[@]}"
run linear-256-s7 --max-steps 500 --seed 7 "${linear[@]}"
echo "== done $(date -u +%T)"
