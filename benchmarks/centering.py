"""Would a fixed centering of the clustering space help k-means? Measured on validation sets, never on the panel.

A sentence encoder's vectors share a common direction (their mean is far from zero), and k-means on unit vectors
spends part of its distance on it. "All-but-the-top" post-processing (Mu & Viswanath, 2018) subtracts the mean and
the top ``D`` principal directions and normalises again. Here the mean and the directions come from a fixed reference
corpus encoded in the same space, never from the texts being clustered, so the result is one linear map of the
task's vectors: a space a store could hold.

    python benchmarks/centering.py --json-out docs/results/centering_clustering.json
    python benchmarks/centering.py --suite 2 --json-out docs/results/suite_20ng_centering.json

The reference corpus: 1,000 texts (seed 0) from each of STS-B train sentences, Emotion train, AmazonCF train and the
queries of data/train/tatqa-retrieval and data/train/stackoverflow-retrieval: none is a validation, panel or suite
test set. The validation sets are ``benchmarks/blend_share.py``'s for clustering; each ``D`` of ``--directions`` and
the shipped default are scored against the bare model with the panel's bootstrap. The rule (written before the
figures, docs/training-data.md): among the ``D`` whose unseen sets are all not down, the one with the highest home
change, qualifying only if it beats the shipped default's home change. ``--suite D`` then reads the quality suite's
20NG set (``taskvec eval suite``'s data and clusterer: all 7,532 test subject lines, 10 k-means seeds) with the
shipped default's vectors and with them centred at ``D``, paired over the seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DIRECTIONS = (0, 1, 2, 4)
PER_SOURCE = 1000


def reference_texts(data_root: Path, per_source: int = PER_SOURCE) -> dict[str, list[str]]:
    """The reference corpus by source: ``per_source`` texts of each, drawn with seed 0."""
    from taskvec.data.beir import read_beir
    from taskvec.eval.checks import _amazon, _emotion, _sts_sentences

    sources = {
        "stsb-train": _sts_sentences(data_root, "train", "genre")[0],
        "emotion-train": _emotion(data_root, "train")[0],
        "amazoncf-train": _amazon(data_root, "train")[0],
        "tatqa-queries": list(read_beir(REPO / "data/train/tatqa-retrieval", "train").queries.values()),
        "stackoverflow-queries": list(read_beir(REPO / "data/train/stackoverflow-retrieval", "train").queries.values()),
    }
    return {name: random.Random(0).sample(texts, min(per_source, len(texts))) for name, texts in sources.items()}


def centering(reference: np.ndarray, directions: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference vectors' mean and their top ``directions`` principal directions (rows)."""
    mean = reference.mean(axis=0)
    _, _, vt = np.linalg.svd(reference - mean, full_matrices=False)
    return mean, vt[:directions]


def centred(vectors: np.ndarray, mean: np.ndarray, top: np.ndarray) -> np.ndarray:
    """``vectors`` less ``mean`` and their parts along ``top``, normalised to unit length."""
    u = vectors - mean
    u = u - (u @ top.T) @ top
    return (u / np.linalg.norm(u, axis=1, keepdims=True)).astype(np.float32)


def suite_reading(data_root: Path, shipped: Any, mean: np.ndarray, top: np.ndarray) -> dict[str, Any]:
    """The quality suite's 20NG clustering, the shipped default against it centred, paired over the k-means seeds."""
    from taskvec.eval.datasets import load_clustering
    from taskvec.eval.runners import kmeans_v_measures

    data = load_clustering(data_root / "twenty_newsgroups")
    vectors = shipped(data.test.texts)
    runs = {
        "shipped": kmeans_v_measures(vectors, data.test.labels, runs=10, seed=0),
        "centred": kmeans_v_measures(centred(vectors, mean, top), data.test.labels, runs=10, seed=0),
    }
    diff = np.subtract(runs["centred"], runs["shipped"])
    return {
        "texts": len(vectors),
        **{mode: {"v_measure": round(float(np.mean(v)), 5), "v_measures": v} for mode, v in runs.items()},
        "centred_vs_shipped": {
            "change": round(float(diff.mean()), 5),
            "standard_error": round(float(diff.std(ddof=1) / np.sqrt(len(diff))), 5),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--directions", type=int, nargs="+", default=list(DIRECTIONS))
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--suite", type=int, metavar="D", help="read the suite's 20NG set centred at D instead")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()

    from benchmarks.blend_share import choose, encoded_once, home_change, score_modes, validation_sets
    from taskvec.engine import Encoder
    from taskvec.eval.checks import Runner, mode_tasks

    encoder = Encoder(device="cpu", dtype="fp32")
    default = encoder.tasks["clustering"]
    tasks = mode_tasks(encoder, "clustering", default.adapter, None, None, default.blend)
    bare, shipped = Runner(encoder, tasks["base"], None).embed, Runner(encoder, tasks["adapter"], None).embed
    started, load = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), os.getloadavg()[0]
    reference = reference_texts(args.data_root)
    ref_vectors = shipped([t for texts in reference.values() for t in texts])
    if args.suite is not None:
        reading = suite_reading(args.data_root, shipped, *centering(ref_vectors, args.suite))
        record = {"directions": args.suite, "started": started, "load_1min": round(load, 2), **reading}
        record["command"] = f"python benchmarks/centering.py --suite {args.suite}"
        print(json.dumps({k: v for k, v in record.items() if k != "v_measures"}))
        if args.json_out:
            args.json_out.write_text(json.dumps(record, indent=1) + "\n")
        return 0

    maps = {d: centering(ref_vectors, d) for d in args.directions}
    once = encoded_once(shipped)  # the shipped vectors, encoded once per set, whatever D

    def centred_at(d: int) -> Any:
        return lambda texts, role="document": centred(once(texts, role), *maps[d])

    rows: dict[str, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for group, sets in validation_sets("clustering", args.data_root, Path(tmp)).items():
            rows[group] = {}
            for ps in sets:
                embeds = {"base": bare, "shipped": once, **{f"D{d}": centred_at(d) for d in args.directions}}
                rows[group][ps.name] = score_modes(ps, Path(tmp) / ps.name, embeds)
                print(ps.name, json.dumps(rows[group][ps.name]), flush=True)
    best = choose(rows, [f"D{d}" for d in args.directions])
    chosen = int(best[1:]) if best is not None and home_change(rows, best) > home_change(rows, "shipped") else None
    result = {
        "task": "clustering",
        "space": f"the shipped default: {default.adapter}, blended at {default.blend}",
        "reference": {name: len(texts) for name, texts in reference.items()},
        "directions": args.directions,
        "started": started,
        "load_1min": round(load, 2),
        "command": "python benchmarks/centering.py",
        "rule": "among the D whose unseen validation sets are all not down against the bare model, the one with the "
        "highest home change; it qualifies only if that beats the shipped default's home change",
        "sets": rows,
        "chosen": chosen,
    }
    print(f"chosen directions: {chosen}")
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
