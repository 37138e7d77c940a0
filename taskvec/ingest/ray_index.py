"""Bulk indexing on Ray: an index call's rows encoded on a pool of Ray actors, written by the driver in one commit.

``taskvec index CORPUS --ray [ADDRESS]`` runs the ordinary ``TaskvecService.index`` with this pool as its row
encoder: the driver reads, validates and chunks the corpus exactly as the single-process path does (same ids, same
chunks, same space), cuts the rows into blocks and keeps every actor two blocks deep. Each actor holds one Encoder,
built where it runs from the driver's engine settings, on one GPU where the cluster has GPUs, else on an equal share
of its CPUs. An actor returns a block's vectors with the id of the space it made them in, and the driver keeps them
only if that id is its own: a node with another model or adapter cannot slip its vectors into the space.

Why the workers return vectors and the driver writes them, rather than each worker writing Lance fragments that the
driver then commits: the write stays the store's own ``upsert``, one ``merge_insert`` under the collection's lock
that also drops the documents' old chunks and stale vectors, so this path keeps every guarantee of the single-process
one (one commit, all or nothing, the space described before its rows, no row doubled on a re-index) with no second
write path to keep in step with it. Fragments written by workers could only be committed as an append, which cannot
replace a document's old rows, and a failed run would leave their files behind. The price is that the driver holds
the vectors until the commit (1.5 KB a row at 384 dimensions), as the single-process path does.

Failures: an actor that dies (a killed process, a lost node) is restarted by Ray and the block it held is retried
(``max_restarts`` / ``max_task_retries``). A block is pure (texts in, vectors out) and kept by its index, so a retried
block is neither lost nor counted twice. Past the retries the run raises ``WorkerError`` before anything is written:
the collection is as it was.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from types import ModuleType, TracebackType
from typing import Any

import numpy as np

from taskvec.control import HEARTBEAT_S, CallControl
from taskvec.errors import InvalidInputError, SpaceMismatchError, WorkerError
from taskvec.spaces import EmbeddingSpace
from taskvec.store.documents import Document

INSTALL = "pip install 'taskvec[ray]'"
BLOCK_ROWS = 128  # rows per Ray task: the round trip is noise beside encoding them, and blocks spread evenly
IN_FLIGHT = 2  # blocks queued on each actor, so that it never waits for the driver between two blocks
RETRIES = 3  # restarts of a dead actor, and retries of the block it held


def require_ray() -> ModuleType:
    """The ``ray`` module, or an error that says how to install it (Ray is an optional extra)."""
    try:
        import ray
    except ImportError as exc:
        raise InvalidInputError(
            "--ray needs Ray, which is not installed in this environment.",
            field="ray",
            fix=f"Run `{INSTALL}`, or index without --ray.",
        ) from exc
    return ray


class EncoderWorker:
    """A Ray actor: one Encoder, built where the actor runs, that turns blocks of texts into document vectors."""

    def __init__(self, options: dict[str, Any], threads: int) -> None:
        import torch

        from taskvec.engine import Encoder

        torch.set_num_threads(threads)  # the actor's share of the node's cores (the encoder's CPU workers follow)
        self.encoder = Encoder(**options)

    def encode(self, texts: list[str], task: str) -> tuple[str, np.ndarray, int]:
        """(the space the vectors are in, the vectors, texts truncated)."""
        result = self.encoder.encode(texts, task, "document")
        return self.encoder.space(task).id, result.vectors, result.truncated


class RayEncoderPool:
    """Encoder actors on a Ray cluster, usable as ``TaskvecService.index``'s ``encode_rows``; a context manager.

    ``address`` None starts a local Ray with this machine's cores (unless this process is connected to one
    already); otherwise it is the cluster to join (``ray://host:10001``, ``host:6379`` or ``auto``). ``workers``
    defaults to one per GPU, or else one per CPU core, of the cluster.
    """

    def __init__(
        self,
        options: dict[str, Any],
        *,
        address: str | None = None,
        workers: int | None = None,
        block_rows: int = BLOCK_ROWS,
        retries: int = RETRIES,
        worker_class: type = EncoderWorker,
    ) -> None:
        if workers is not None and workers < 1:
            raise InvalidInputError(
                f"--ray-workers must be at least 1, got {workers}.", field="ray_workers", fix="Pass 1 or more."
            )
        self.ray = ray = require_ray()
        self.block_rows, self.retries = block_rows, retries
        self._started = not ray.is_initialized()
        if self._started:
            _connect(ray, address)
        resources = ray.cluster_resources()
        gpus, cpus = resources.get("GPU", 0.0), resources.get("CPU", 1.0)
        self.workers = workers or int(gpus or cpus) or 1
        # More workers than devices share them (fractions), rather than wait forever for a device to come free.
        share = {"num_gpus": min(1.0, gpus / self.workers), "num_cpus": 1} if gpus else {}
        share = share or {"num_cpus": min(float(cpus // self.workers) or 1.0, cpus / self.workers)}
        actor = ray.remote(worker_class).options(**share, max_restarts=retries, max_task_retries=retries)
        threads = max(1, int(share["num_cpus"]))
        self.actors = [actor.remote(options, threads) for _ in range(self.workers)]

    def __enter__(self) -> RayEncoderPool:
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop the actors (and the local Ray, when this pool started it)."""
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []
        if self._started:
            self.ray.shutdown()

    def __call__(
        self, rows: list[Document], space: EmbeddingSpace, control: CallControl, documents: int
    ) -> tuple[np.ndarray, int]:
        """Encode ``rows`` on the actors: (vectors in row order, rows truncated). Nothing is written here."""
        ray = self.ray
        blocks = [rows[i : i + self.block_rows] for i in range(0, len(rows), self.block_rows)]
        waiting = deque(range(len(blocks)))
        running: dict[Any, tuple[int, int]] = {}  # object ref -> (block, actor)
        results: dict[int, tuple[np.ndarray, int]] = {}

        def submit(actor: int) -> None:
            if waiting:
                block = waiting.popleft()
                texts = [d.text for d in blocks[block]]
                running[self.actors[actor].encode.remote(texts, space.task)] = (block, actor)

        for _ in range(IN_FLIGHT):
            for actor in range(len(self.actors)):
                submit(actor)
        done = 0
        control.report(0, documents, f"encoding {len(rows)} rows on {self.workers} Ray workers")
        while running:
            control.check()
            ready, _ = ray.wait(list(running), num_returns=1, timeout=HEARTBEAT_S)
            for ref in ready:
                block, actor = running.pop(ref)
                results[block] = self._result(ref, space)
                done += len(blocks[block])
                if done < len(rows):  # the last report is the write's (TaskvecService.index): it ends the progress
                    message = f"encoded {done} of {len(rows)} rows on {self.workers} Ray workers"
                    control.report(documents * done / len(rows), documents, message)
                submit(actor)
        if not blocks:
            return np.zeros((0, space.dimension), dtype=np.float32), 0
        vectors = np.concatenate([results[b][0] for b in range(len(blocks))])
        return vectors, sum(results[b][1] for b in range(len(blocks)))

    def _result(self, ref: Any, space: EmbeddingSpace) -> tuple[np.ndarray, int]:
        try:
            space_id, vectors, truncated = self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:
            cause = " ".join(str(exc).split())[:400]
            raise WorkerError(
                f"A Ray worker failed past {self.retries} restarts: {cause}. Nothing was written: the collection "
                "is as it was.",
                field="ray",
                fix="Check the workers' logs (`ray logs`), that every node has taskvec, the model and the adapters "
                "installed, and run again.",
            ) from exc
        if space_id != space.id:
            raise SpaceMismatchError(
                f"A Ray worker makes vectors in space {space_id}, not in this run's space {space.id}: its model, "
                "adapter or settings differ from the driver's. Nothing was written.",
                field="ray",
                fix="Install the same model and adapters (same files) on every node, then run again.",
            )
        return vectors, truncated


def _connect(ray: ModuleType, address: str | None) -> None:
    """Join the cluster at ``address``, or start a local one with every core of this machine."""
    if address:  # stdout carries results only; a cluster's warnings (versions, resources) go to stderr
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        return
    # A throwaway cluster on this machine: no usage report, and none of Ray's notices across the progress bar.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(
        address="local",
        num_cpus=os.cpu_count() or 1,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
    )
