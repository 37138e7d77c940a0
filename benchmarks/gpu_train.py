"""Training adapters on a lent GPU: one bundle prepared here, one script run there (issue 15).

On 2 CPU cores the shipped retrieval recipe takes about 19 minutes at 128 tokens and about 70 at 256, whole SciFact
abstracts (docs/training-data.md), so the 256-token and larger recipes do not fit the 30-minute budget. A GPU step
is far faster, but a lent GPU machine comes for a few minutes, with torch, transformers, peft and
sentence-transformers and without the bundled model's package, ../shared/data, lancedb or mcp, and what travels
with the working tree is capped at 64 MiB. So the model (in fp16) and the training sets go into one ignored folder
here, and there each run is ``taskvec train`` on that folder with ``--no-panel``:

    python benchmarks/gpu_train.py --prepare .taskvec/train_bundle --task retrieval \\
        --data ../shared/data/scifact ../shared/data/stsbenchmark/sts-train.csv \\
        data/train/tatqa-retrieval data/train/stackoverflow-retrieval                  # here, once (~58 MiB)
    bash benchmarks/device_train.sh .taskvec/train_bundle                                # there: the candidates
    python3 benchmarks/gpu_train.py --bundle B --out DIR [taskvec train flags ...]     # there: one run

The adapters come back (a few MB each); here each is read on validation, and the one chosen there on the held-out
panel once (``taskvec eval panel --task retrieval --adapter DIR``), whose sets never travel.

Caveat: the bundle's weights are the model's in fp16, upcast to fp32 for training, so the adapter learns against a
base that differs from the shipped fp32 one by fp16 rounding; read it here, on the fp32 base, before anything ships.
Its ``taskvec_training.json`` names the bundle's model folder and fingerprint, and the bundle's ``bundle.json``
records the fp32 model's fingerprint beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MANIFEST = "bundle.json"


def prepare(folder: Path, task: str, data: list[str], model: str | None) -> dict:
    """The fp16 model folder, a copy of each training source under ``data/`` (a ``#`` selector kept), and
    ``bundle.json`` saying which is which."""
    from benchmarks.gpu_encode import write_fp16_model
    from taskvec.engine.fingerprint import fingerprint_folder
    from taskvec.engine.model_files import resolve_model_path

    folder.mkdir(parents=True, exist_ok=True)
    target = write_fp16_model(folder, model)
    copies = []
    for i, spec in enumerate(data):
        path, sep, selector = spec.partition("#")
        source = Path(path)
        copy = folder / "data" / str(i) / source.name  # the name as it was: a reader may go by it (sts-*.csv)
        shutil.rmtree(copy, ignore_errors=True)
        copy.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, copy)
        else:
            shutil.copy2(source, copy)
        copies.append(str(copy.relative_to(folder)) + sep + selector)
    manifest = {
        "task": task,
        "model": target.name,
        "fp32_model_fingerprint": fingerprint_folder(resolve_model_path(model)[1]),
        "fp16_model_fingerprint": fingerprint_folder(target),
        "data": copies,
        "sources": data,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(f"prepared {folder} ({size / 2**20:.1f} MiB): carry it and run --bundle {folder}", file=sys.stderr)
    return manifest


def train_argv(bundle: Path, out: Path, extra: list[str]) -> list[str]:
    """The ``taskvec train`` command line of one run on the bundle."""
    manifest = json.loads((bundle / MANIFEST).read_text())
    return [
        "train",
        "--task",
        manifest["task"],
        "--model",
        str(bundle / manifest["model"]),
        "--data",
        *[str(bundle / spec) for spec in manifest["data"]],
        "--out",
        str(out),
        "--no-panel",
        "--no-progress",
        *extra,
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prepare", type=Path, help="write the bundle into this folder (here, no GPU needed)")
    parser.add_argument("--task", default="retrieval", help="with --prepare: the task the runs train")
    parser.add_argument("--data", nargs="+", default=[], help="with --prepare: the training sources")
    parser.add_argument("--model", help="with --prepare: model folder or id (default: the bundled MiniLM)")
    parser.add_argument("--bundle", type=Path, help="run taskvec train on this bundle")
    parser.add_argument("--out", type=Path, help="with --bundle: the adapter folder to write")
    args, extra = parser.parse_known_args(argv)
    if args.prepare:
        if not args.data:
            parser.error("--prepare needs --data")
        prepare(args.prepare, args.task, args.data, args.model)
        return 0
    if not (args.bundle and args.out):
        parser.error("pass --prepare FOLDER, or --bundle FOLDER --out DIR")
    from taskvec.train.cli import main as train_main

    return train_main(train_argv(args.bundle, args.out, extra))


if __name__ == "__main__":
    sys.exit(main())
