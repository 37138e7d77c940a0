"""Latency of a reranked search (first stage, then 50 SciFact-length candidates rescored) as a ratio to the
one-stage search, measured in turns in the same run, with the absolute figures and the 1-minute load.

Both searches go through the service as an MCP call would (the encode queue included) over the same collection of
SciFact documents, with the query cache off so that both pay for encoding the query. The reranker is the shipped
``rerank`` task when there is one, else ``--rerank FOLDER``, else a rerank adapter with random weights: latency
does not depend on the weights' values, only on their shapes (and the head is one linear layer).

A figure measured while other processes used more than ``--max-other-cores`` (a quarter core, on average; the
machine's CPU time less this process's) is marked so; ``--retries`` waits a minute and measures again, up to that
many times, while it is. The 1-minute load is recorded beside it.

    python benchmarks/rerank.py --documents 300 --repeats 10
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    MAX_OTHER_CORES,
    bench_main,
    interleaved,
    load_average,
    machine,
    median,
    others_cpu,
    percentile,
    ratio,
    scifact_queries,
    scifact_texts,
)


def random_rerank_adapter(model_dir: Path, out: Path) -> Path:
    """A rerank adapter of the shipped shape (LoRA rank 16 on the attention projections, a linear head)."""
    import json

    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from safetensors.torch import save_file
    from transformers import AutoModel

    from taskvec.engine.rerank import HEAD_FILE, RERANK_CONFIG, ScoreHead

    torch.manual_seed(0)
    base = AutoModel.from_pretrained(str(model_dir))
    lora = LoraConfig(
        task_type=TaskType.FEATURE_EXTRACTION,
        r=16,
        lora_alpha=32,
        target_modules=["query", "key", "value", "attention.output.dense"],
        init_lora_weights=False,
    )
    get_peft_model(base, lora).save_pretrained(str(out))
    head = ScoreHead(base.config.hidden_size)
    save_file({k: v.contiguous() for k, v in head.state_dict().items()}, str(out / HEAD_FILE))
    config = {"hidden_size": base.config.hidden_size, "residual_task": "retrieval", "max_seq_length": 256}
    (out / RERANK_CONFIG).write_text(json.dumps(config))
    return out


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--documents", type=int, default=300, help="SciFact documents in the collection")
    p.add_argument("--candidates", type=int, default=50)
    p.add_argument("--repeats", type=int, default=10, help="timed searches of each kind")
    p.add_argument("--rerank", type=Path, help="a rerank adapter folder (default: the shipped one, else random)")
    p.add_argument(
        "--max-other-cores",
        type=float,
        default=MAX_OTHER_CORES,
        help="other processes' CPU above which a figure is marked",
    )
    p.add_argument("--retries", type=int, default=0, help="measure again (a minute later) while others share the CPU")


def measure(service: Any, task: str, queries: list[str], args: argparse.Namespace) -> dict[str, Any]:
    ones, twos = itertools.cycle(queries), itertools.cycle(queries)  # the same queries, in the same order
    load_before = load_average()
    with others_cpu() as shared:
        seconds = interleaved(
            {
                "one_stage": lambda: service.search(next(ones), "bench", limit=10),
                "reranked": lambda: service.search(
                    next(twos), "bench", limit=10, rerank=task, candidates=args.candidates
                ),
            },
            args.repeats,
        )
    load_after = load_average()
    others = shared["others_cores"]
    one, two = median(seconds["one_stage"]), median(seconds["reranked"])
    return {
        "one_stage_ms": round(one * 1000, 1),
        "reranked_ms": round(two * 1000, 1),
        "reranked_p90_ms": round(percentile(seconds["reranked"], 90) * 1000, 1),
        "ratio": ratio(two, one),
        "load_1min_before": load_before,
        "load_1min_after": load_after,
        "others_cores": others,
        "load_ok": others <= args.max_other_cores if others is not None else max(load_before, load_after) <= 1.5,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    import taskvec
    from taskvec.engine.tasks import RERANK_KIND

    info = machine()
    root = Path(tempfile.mkdtemp(prefix="taskvec-rerank-bench-"))
    settings = taskvec.Settings(store=str(root / "store"), query_cache_size=0)
    service = taskvec.build_service(settings)
    task = RERANK_KIND
    if args.rerank is not None or RERANK_KIND not in set(service.encoder.tasks):
        folder = args.rerank or random_rerank_adapter(service.encoder.model_path, root / "rerank")
        tasks = root / "tasks.toml"
        tasks.write_text(f'[tasks.bench-rerank]\nkind = "rerank"\nadapter = "{folder.resolve()}"\n')
        service = taskvec.build_service(settings.model_copy(update={"tasks_file": tasks}))
        task = "bench-rerank"
    texts = scifact_texts(args.documents)
    service.index("bench", [{"id": str(i), "text": t} for i, t in enumerate(texts)], task="retrieval")
    queries = scifact_queries(args.repeats + 1)
    runs = [measure(service, task, queries, args)]
    while not runs[-1]["load_ok"] and len(runs) <= args.retries:
        time.sleep(60)
        runs.append(measure(service, task, queries, args))
    best = min(runs, key=lambda r: (r["others_cores"] or 0, max(r["load_1min_before"], r["load_1min_after"])))
    reranker = service.reranker(task).identity
    return {
        "benchmark": "rerank",
        "documents": len(texts),
        "candidates": args.candidates,
        "repeats": args.repeats,
        "reranker": reranker.describe(),
        **best,
        "runs": runs,
        "machine": info,
    }


def markdown(r: dict[str, Any]) -> str:
    shared = f"; other processes used {r['others_cores']} cores on average" if r.get("others_cores") is not None else ""
    mark = "" if r["load_ok"] else " (others shared the CPU: rerun on a quieter machine)"
    return "\n".join(
        [
            "## Reranked search latency",
            "",
            f"{r['documents']} SciFact documents; reranking the top {r['candidates']}; {r['repeats']} searches of "
            f"each kind in turns; reranker: {r['reranker']}.",
            "",
            "| search | median ms | ratio |",
            "|---|---|---|",
            f"| one stage (vector) | {r['one_stage_ms']} | 1 |",
            f"| + rerank of {r['candidates']} | {r['reranked_ms']} (p90 {r['reranked_p90_ms']}) | {r['ratio']} |",
            "",
            f"1-minute load {r['load_1min_before']} before, {r['load_1min_after']} after{shared}{mark}.",
        ]
    )


if __name__ == "__main__":
    bench_main(__doc__, configure, run, markdown)
