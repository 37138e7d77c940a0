#!/usr/bin/env bash
# The GPU checks of issues 19 and 16 in one run on a lent GPU machine (the `device` tool gives a few minutes once):
# encode throughput on SciFact in fp16 against sentence-transformers (benchmarks/gpu_encode.py), then the latency
# of a rerank of 50 candidates (benchmarks/gpu_rerank.py). Both read one bundle, since that machine has neither the
# bundled model's package nor ../shared/data (nor lancedb or mcp: both scripts need neither). About 3 minutes.
#
#   python benchmarks/gpu_encode.py --prepare .taskvec/gpu_bundle     # here, once (~50 MB, an ignored folder)
#   bash benchmarks/device_checks.sh .taskvec/gpu_bundle               # there, carrying .taskvec/gpu_bundle
#
# With $OUT set (the device tool sets it), the JSON results land in $OUT/gpu_encode.json and $OUT/gpu_rerank.json.
set -euo pipefail
bundle=${1:-.taskvec/gpu_bundle}
[ -d "$bundle" ] || { echo "No bundle at $bundle: run python benchmarks/gpu_encode.py --prepare $bundle first." >&2; exit 2; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
python3 benchmarks/gpu_encode.py --bundle "$bundle" --compile
python3 benchmarks/gpu_rerank.py --bundle "$bundle"
