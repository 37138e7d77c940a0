"""benchmarks/gpu_train.py: a bundle prepared here trains an adapter with only what the lent GPU machine has (no
lancedb, no mcp, no model package, no ../shared): checked on the CPU with those imports blocked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import load_benchmark
from test_train import _toy_beir

gpu_train = load_benchmark("gpu_train")
REPO = Path(__file__).resolve().parents[1]
# What the GPU image lacks: importing either fails there, so it fails here too.
BLOCKED = "import sys; sys.modules['lancedb'] = None; sys.modules['mcp'] = None; import runpy; "


def test_a_bundle_trains_without_the_store_or_mcp(tiny_model_dir: Path, tmp_path: Path) -> None:
    beir = _toy_beir(tmp_path)
    bundle = tmp_path / "bundle"
    manifest = gpu_train.prepare(bundle, "retrieval", [str(beir)], str(tiny_model_dir))
    assert manifest["data"] == ["data/0/beir"] and (bundle / "data" / "0" / "beir" / "corpus.jsonl").is_file()
    assert manifest["fp16_model_fingerprint"] != manifest["fp32_model_fingerprint"]  # the weights travel in fp16
    out = tmp_path / "adapter"
    argv = ["benchmarks/gpu_train.py", "--bundle", str(bundle), "--out", str(out), "--device", "cpu"]
    argv += ["--max-steps", "2", "--batch-size", "4", "--val-fraction", "0.25", "--mine-negatives", "1"]
    code = BLOCKED + f"sys.argv = {argv!r}; runpy.run_path('benchmarks/gpu_train.py', run_name='__main__')"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    info = json.loads((out / "taskvec_training.json").read_text())
    assert (out / "adapter_model.safetensors").is_file() and info["task"] == "retrieval"
    assert info["data"][0]["source"] == str(bundle / "data" / "0" / "beir")
    assert info["base_model_fingerprint"] == manifest["fp16_model_fingerprint"]
    assert "skipped (--no-panel)" in done.stderr  # the panel's sets stay here: it is read back here, once


def test_the_device_script_names_a_bundle_or_says_how_to_make_one(tmp_path: Path) -> None:
    done = subprocess.run(
        ["bash", "benchmarks/device_train.sh", str(tmp_path / "none")], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 2 and "gpu_train.py --prepare" in done.stderr
