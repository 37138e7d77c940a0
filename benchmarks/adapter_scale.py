"""Is a retrieval adapter's update the right size? Its LoRA update scaled by ``W``, read on validation queries only.

``W < 1`` moves the adapter towards the base model (what ``taskvec interpolate`` writes); ``W > 1`` extrapolates
past it (ExPO, Zheng et al. 2024: a fine-tune's direction followed further). Each scaled copy is searched over
each set's whole corpus, exact cosine, beside the bare model (no prompt, no adapter). The queries are those of
``benchmarks/hybrid_weights.py``: the adapter's training sources' held-back carve (``--held-back``) and every query
of retrieval training sets of other domains (``--unseen``). The held-out panel is never read here; a scale picked
here is read on it once afterwards (``taskvec eval panel --task retrieval --adapter DIR``).

    python benchmarks/adapter_scale.py --held-back ../shared/data/scifact data/train/tatqa-retrieval \\
        data/train/stackoverflow-retrieval --unseen data/train/policyqa-retrieval \\
        data/train/qatarliving-retrieval --weights 0.75 1 1.25 1.5 2 --dtype bf16

It prints nDCG@10 per set and scale with the change over the bare model, and per scale the smallest change across
the sets (the figure the ship rule cares about: no set below the bare model).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.hybrid_weights import validation_queries
from taskvec import metrics
from taskvec.config import Settings
from taskvec.engine.tasks import Task
from taskvec.train.interpolate import CONFIG_FILE, WEIGHTS_FILE


def scaled_task(adapter: Path, weight: float, root: Path) -> Task:
    """A retrieval Task running a copy of ``adapter`` whose LoRA update is scaled by ``weight`` (any positive
    weight: ``taskvec interpolate`` stops at 1), with the prompts the adapter was trained with."""
    out = root / f"w{weight}"
    out.mkdir()
    shutil.copy2(adapter / CONFIG_FILE, out / CONFIG_FILE)
    tensors = load_file(str(adapter / WEIGHTS_FILE))
    save_file({k: v * weight if ".lora_B." in k else v for k, v in tensors.items()}, str(out / WEIGHTS_FILE))
    info = json.loads((adapter / "taskvec_training.json").read_text())
    prompts = (info["query_prompt"], info["document_prompt"])
    return Task(f"w{weight}", "retrieval", f"update x {weight}", *prompts, adapter=out.resolve())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--held-back", nargs="*", type=Path, default=[], help="training BEIR folders (carved)")
    parser.add_argument("--unseen", nargs="*", type=Path, default=[], help="other BEIR training folders (all queries)")
    parser.add_argument("--weights", nargs="+", type=float, default=[0.75, 1.0, 1.25, 1.5])
    parser.add_argument("--adapter", type=Path, help="adapter folder (default: the served retrieval adapter)")
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args()
    encoder = Settings(dtype=args.dtype).build_encoder()
    adapter = args.adapter or encoder.profile.adapter_folder("retrieval")
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as root:
        tasks = {"bare": Task("bare", "retrieval", "no prompt, no adapter")}
        tasks.update({f"x{w:g}": scaled_task(adapter, w, Path(root)) for w in args.weights})
        for folder, carve in [(f, True) for f in args.held_back] + [(f, False) for f in args.unseen]:
            _, texts, grades, data = validation_queries(folder, carve)
            for name, task in tasks.items():
                started = time.perf_counter()
                queries = encoder.encode(texts, task, "query").vectors
                docs = encoder.encode(data.docs, task, "document").vectors
                top = np.argsort(-(queries @ docs.T), axis=1, kind="stable")[:, :10]
                rankings = [[data.doc_ids[i] for i in row] for row in top]
                figure = float(np.mean([metrics.ndcg_at_k(r, g, 10) for r, g in zip(rankings, grades, strict=True)]))
                figures.setdefault(f"{folder.name} ({len(texts)} queries)", {})[name] = figure
                print(f"{folder.name} {name}: {figure:.4f} ({time.perf_counter() - started:.0f} s)", flush=True)
    print(f"\nnDCG@10 (change over the bare model) of {adapter}, its update scaled:\n")
    print("| set | " + " | ".join(tasks) + " |")
    print("|---" * (len(tasks) + 1) + "|")
    for name, row in figures.items():
        cells = [f"{row['bare']:.4f}"] + [f"{row[t]:.4f} ({row[t] - row['bare']:+.4f})" for t in tasks if t != "bare"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    smallest = {t: min(row[t] - row["bare"] for row in figures.values()) for t in tasks if t != "bare"}
    print("\nsmallest change over the bare model: " + ", ".join(f"{t}: {v:+.4f}" for t, v in smallest.items()))


if __name__ == "__main__":
    main()
