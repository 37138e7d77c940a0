#!/usr/bin/env bash
# Run an adapter sweep on a lent GPU machine that has torch, transformers and peft but no model, data or network.
#
#   bash benchmarks/sweeps/device_sweep.sh prepare            # here, in the project's venv: fill .gpu/ (ignored)
#   bash benchmarks/sweeps/device_sweep.sh run CONFIGS [ARGS] # there, with .gpu carried: sweep, summary in $OUT
#
# The model travels as an fp16 copy (the fp32 file is 91 MB) and is widened back to fp32 there, so sweep figures
# are of weights rounded to fp16: fine for choosing hyperparameters, not figures of record (those are retrained on
# the CPU). Data: STS Benchmark and TwitterURL, what the similarity checks read; add folders to DATA_SETS for others.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA_SETS=${DATA_SETS:-"stsbenchmark twitter_url_corpus"}
DEVICE=${DEVICE:-cuda} # DEVICE=cpu OUT=/tmp/out tries the run step here

case "${1:-}" in
prepare)
    grep -qx '/.gpu/' .git/info/exclude || echo /.gpu/ >>.git/info/exclude
    rm -rf .gpu && mkdir -p .gpu/model .gpu/data
    model=$(python -c "from taskvec.engine.model_files import bundled_default_model_path as p; print(p())")
    find "$model" -mindepth 1 -maxdepth 1 ! -name model.safetensors -exec cp -r {} .gpu/model/ \;
    python - "$model" <<'PY'
import sys
from safetensors.torch import load_file, save_file
weights = load_file(f"{sys.argv[1]}/model.safetensors")
save_file({k: v.half() for k, v in weights.items()}, ".gpu/model16.safetensors", metadata={"format": "pt"})
PY
    for d in $DATA_SETS; do cp -r "../shared/data/$d" .gpu/data/; done
    chmod -R u+w .gpu && du -sh .gpu
    ;;
run)
    configs=$2
    shift 2
    export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 TOKENIZERS_PARALLELISM=false
    export PYTHONPATH=$PWD TASKVEC_DATA=$PWD/.gpu/data TASKVEC_CHECKS_CACHE=/tmp/cache
    export TASKVEC_SWEEP_WEIGHTS_NOTE="all-MiniLM-L6-v2 weights rounded to fp16 and back to fp32 (the device run carried a half-size copy)"
    python3 - <<'PY'
from safetensors.torch import load_file, save_file
weights = load_file(".gpu/model16.safetensors")
save_file({k: v.float() for k, v in weights.items()}, ".gpu/model/model.safetensors", metadata={"format": "pt"})
PY
    python3 -m pip list 2>/dev/null | grep -iE "^(torch|transformers|peft) " || true
    task=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))[0]['task'])" "$configs")
    # Warm the base-embedding cache once, so parallel configurations do not all encode the base model.
    python3 -m taskvec.eval.cli checks --task "$task" --model .gpu/model --device "$DEVICE" --modes base
    timeout "${SWEEP_SECONDS:-480}" python3 benchmarks/adapter_sweep.py --configs "$configs" --out /tmp/sweep \
        --device "$DEVICE" --model .gpu/model "$@" >"$OUT/sweep.log" 2>&1 &
    pid=$!
    while kill -0 $pid 2>/dev/null; do cp /tmp/sweep/summary.json "$OUT/" 2>/dev/null || true; sleep 5; done
    cp /tmp/sweep/summary.json "$OUT/" 2>/dev/null || true
    tail -80 "$OUT/sweep.log"
    ;;
*)
    echo "usage: $0 prepare | run CONFIGS [adapter_sweep.py arguments]" >&2
    exit 2
    ;;
esac
