"""Bulk indexing on Ray against the single-process path: the same SciFact documents through the same
``TaskvecService.index`` (reading aside: validation, chunking, one LanceDB commit into a fresh collection), encoded
either in this process (on every core) or on a local Ray of ``--cpus`` cores with ``--workers`` actors (one core
each by default), in turns. The Ray start (``ray.init`` and the actors loading the model) is timed apart: it is paid
once per run of ``taskvec index --ray``, and the docs/s figures are of a started pool.

    nice -n 10 python benchmarks/ray_index.py --docs 256 --workers 2
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import bench_main, interleaved, load_average, machine, median, ratio, scifact_texts
from taskvec.config import Settings
from taskvec.ingest.ray_index import RayEncoderPool
from taskvec.service import build_service


def run(args: argparse.Namespace) -> dict[str, Any]:
    import ray

    texts = scifact_texts(args.docs, seed=1)
    documents = [{"id": str(i), "text": t, "metadata": {"n": i}} for i, t in enumerate(texts)]
    out: dict[str, Any] = {"docs": len(texts), "workers": args.workers, "cpus": args.cpus, "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="taskvec-ray-index-") as tmp:
        settings = Settings(store=str(Path(tmp) / "store"), device="cpu")
        service = build_service(settings)
        start = time.perf_counter()
        ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        try:
            with RayEncoderPool(settings.encoder_options(), workers=args.workers) as pool:
                service.index("ray-start", documents[:8], "retrieval", encode_rows=pool)  # waits for every actor
                out["ray_start_seconds"] = round(time.perf_counter() - start, 2)
                rows: dict[str, int] = {}
                count = itertools.count()

                def index(name: str, encode_rows: Any) -> None:
                    result = service.index(f"{name}-{next(count)}", documents, "retrieval", encode_rows=encode_rows)
                    rows[name] = result.rows_written

                out["load_at_start"] = load_average()
                seconds = interleaved(
                    {"single": lambda: index("single", None), "ray": lambda: index("ray", pool)}, args.repeats
                )
                out["load_at_end"] = load_average()
        finally:
            ray.shutdown()
    single, on_ray = len(texts) / median(seconds["single"]), len(texts) / median(seconds["ray"])
    assert rows["single"] == rows["ray"], rows  # the same rows written either way
    out.update(
        rows_written=rows["single"],
        repeats=args.repeats,
        seconds={name: [round(s, 3) for s in values] for name, values in seconds.items()},
        single_docs_per_second=round(single, 2),
        ray_docs_per_second=round(on_ray, 2),
        ray_to_single=ratio(on_ray, single),
    )
    return out


def markdown(r: dict[str, Any]) -> str:
    return (
        f"{r['docs']} SciFact documents ({r['rows_written']} rows after chunking) indexed under the retrieval task "
        f"into a fresh collection, {r['repeats']} interleaved runs each, medians: single process "
        f"**{r['single_docs_per_second']:.1f} docs/s**, Ray with {r['workers']} local workers on {r['cpus']} cores "
        f"**{r['ray_docs_per_second']:.1f} docs/s**: **{r['ray_to_single']:.2f}x**. Starting Ray and its workers "
        f"(each loading the model) took {r['ray_start_seconds']:.1f} s, once per run, outside those figures. "
        f"1-minute load {r['load_at_start']} at the start, {r['load_at_end']} at the end "
        f"({r['machine']['logical_cores']} logical cores, {r['machine']['cpu']})."
    )


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--docs", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2, help="Ray actors, one encoder each")
    parser.add_argument("--cpus", type=int, default=2, help="cores the local Ray offers (shared by the workers)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each path, in turns")


if __name__ == "__main__":
    bench_main(__doc__, options, run, markdown)
