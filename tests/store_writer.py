"""A writer process for the concurrency tests: ``python store_writer.py STORE WHO SCENARIO ROUNDS START``.

Waits until the wall-clock time START (so that two writers begin together), then runs ROUNDS writes of one
scenario through its own ``Store`` on STORE, and prints one JSON line per write that returned (acknowledged):
``{"round": r, "collection": c, "space": s, "keys": [...], "texts": {...}}``. A write that raised prints
``{"round": r, "error": "..."}``. No model: the vectors are random, the space a fixed description.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace

import numpy as np

from taskvec.spaces import EmbeddingSpace
from taskvec.store import Document, Store

DIM = 8
SPACE = EmbeddingSpace("m", "fp-1", "retrieval", "q: ", "d: ", None, None, "mean", True, 256, DIM)
SCENARIOS = ("new-ids", "same-ids", "new-space", "create")


def write(store: Store, who: str, scenario: str, r: int, rng: np.random.Generator) -> dict:
    if scenario == "new-ids":  # each writer its own ids, one collection
        collection, space, ids = "shared", SPACE, [f"{who}-{r}-{i}" for i in range(20)]
    elif scenario == "same-ids":  # both writers the same ids: the last one wins, never two rows
        collection, space, ids = "shared", SPACE, [f"same-{r}-{i}" for i in range(20)]
    elif scenario == "new-space":  # each writer adds a space of its own to a collection at the same moment
        collection, space, ids = "spaces", replace(SPACE, task=f"task-{who}-{r}"), [f"{who}-{r}-{i}" for i in range(5)]
    else:  # both writers create the same new collection at the same moment
        collection, space, ids = f"fresh-{r}", SPACE, [f"{who}-{r}-{i}" for i in range(5)]
    texts = {i: f"{who} wrote {i}" for i in ids}
    docs = [Document(i, texts[i]) for i in ids]
    vectors = rng.normal(size=(len(docs), DIM)).astype(np.float32)
    store.upsert(collection, docs, vectors, space)
    return {"collection": collection, "space": space.id, "keys": [f"{space.id}:{i}" for i in ids], "texts": texts}


def main() -> None:
    path, who, scenario, rounds, start = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    store = Store(path)
    rng = np.random.default_rng(abs(hash(who)) % 2**32)
    time.sleep(max(0.0, start - time.time()))
    for r in range(rounds):
        try:
            record = write(store, who, scenario, r, rng)
        except Exception as exc:  # reported, and counted as not acknowledged
            record = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps({"round": r, **record}), flush=True)


if __name__ == "__main__":
    main()
