"""Whether bf16 (or int8) vectors can share the fp32 embedding space: the quality harness on every home set in
each dtype, a collection that mixes the two, and how far the vectors and rankings of the two agree.

* Every set of the quality suite (``taskvec.eval.suite.SUITE``) through the harness's own runners, in fp32 and in
  each other dtype, as the task adapter (the default path) and with no prompt and no adapter (the base model);
  int8 takes no adapters, so it has the base row only.
* A mixed collection: the harness again, each distinct text's vector taken from fp32 or from the other dtype by a
  hash of the text (about half each), as a collection indexed by one server and extended or queried by another
  would hold them. No encoding: the vectors are the ones the two runs made.
* SciFact retrieval with the adapter: the cosine between each document's two vectors, and the overlap of every
  query's top 10 between the dtypes.

The figures decide the space (docs/precision.md): a dtype shares the fp32 space when neither its own vectors nor
a mix with fp32 ones move any home set by more than ``TOLERANCE``; otherwise it needs a space of its own.

    python benchmarks/precision.py --dtypes bf16 int8 --out docs/precision.md
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks.common import DATA, load_average, machine
from taskvec.engine import Encoder, EncodeResult, Task
from taskvec.eval.datasets import LOADERS
from taskvec.eval.runners import run_variant
from taskvec.eval.suite import SUITE
from taskvec.eval.variants import Variant

TOLERANCE = 0.002  # the largest change of a home-set figure that counts as no change (issue 19)
VARIANTS = {"task adapter": Variant("task", "task"), "no prompt": Variant("none", "none")}


class Recording:
    """An encoder that remembers every vector it returns, by task, role and text (the harness's runners take it
    in place of the encoder: they only call ``encode``, ``space`` and read attributes). Keys hold the task, not
    the space id, so two dtypes' recordings share keys whatever the space ids say.

    ``cache``: a folder where each call's vectors are kept, so that a run stopped part-way (a busy shared machine
    makes the fp32 SciFact pass take an hour) resumes without encoding again."""

    def __init__(self, encoder: Encoder, cache: Path | None = None) -> None:
        self.encoder = encoder
        self.cache = cache
        self.vectors: dict[tuple[Task, str, str], np.ndarray] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.encoder, name)

    def encode(self, texts: list[str], task: Any, role: str = "document", **options: Any) -> EncodeResult:
        path = None
        if self.cache is not None:
            key = json.dumps([str(self.encoder.dtype), self.encoder.quantized, repr(task), role, list(texts)])
            path = self.cache / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.npy"
        if path is not None and path.is_file():
            result = EncodeResult(np.load(path), 0, [self.encoder.space(task).id] * len(texts))
        else:
            result = self.encoder.encode(texts, task=task, role=role, **options)  # type: ignore[arg-type]
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, result.vectors)
        for text, vector in zip(texts, result.vectors, strict=True):
            self.vectors[(task, role, text)] = vector
        return result


class Mixed(Recording):
    """Serves each text's vector from one of two recordings, chosen by a hash of the text: a collection whose rows
    were made half in one dtype and half in the other."""

    def __init__(self, first: Recording, second: Recording) -> None:
        super().__init__(first.encoder)
        self.first, self.second = first, second

    def encode(self, texts: list[str], task: Any, role: str = "document", **options: Any) -> EncodeResult:
        rows = []
        for text in texts:
            source = self.second if hashlib.sha256(text.encode()).digest()[0] & 1 else self.first
            rows.append(source.vectors[(task, role, text)])
        vectors = np.stack(rows) if rows else np.zeros((0, self.dimension), np.float32)
        return EncodeResult(vectors, 0, [self.encoder.space(task).id] * len(rows))


def harness(encoder: Recording, args: argparse.Namespace, dtype: str) -> dict[str, dict[str, float]]:
    """{set: {variant: figure}} over every home set present (or the folders in ``args.only``)."""
    data_root, seed_sets, only = args.data_root, args.seed_sets, args.only
    out: dict[str, dict[str, float]] = {}
    for entry in SUITE:
        folder = data_root / entry.folder
        if not folder.is_dir() or (only and entry.folder not in only):
            continue
        data = LOADERS[entry.kind](folder)
        options: dict[str, Any] = {"seed_sets": seed_sets} if entry.kind == "classification" else {}
        for row in args.variants:
            variant = VARIANTS[row]
            if variant.adapter == "task" and (dtype == "int8" or encoder.tasks[entry.task_name].adapter is None):
                continue
            start = time.perf_counter()
            value = run_variant(entry.kind, encoder, variant, data, task=entry.task_name, **options).value  # type: ignore[arg-type]
            out.setdefault(entry.folder, {})[row] = round(value, 6)
            seconds = time.perf_counter() - start
            print(
                f"{type(encoder).__name__} {dtype} {entry.folder} / {row}: {value:.4f} ({seconds:.0f} s)",
                file=sys.stderr,
            )
    return out


def agreement(reference: Recording, other: Recording, data_root: Path) -> dict[str, Any]:
    """SciFact under the retrieval task as it runs by default: per-vector cosine between the dtypes and top-10 overlap per query."""
    from taskvec import metrics

    data = LOADERS["retrieval"](data_root / "scifact")
    task = VARIANTS["task adapter"].apply(reference.tasks["retrieval"])

    def vectors(rec: Recording, role: str, texts: list[str]) -> np.ndarray:
        return np.stack([rec.vectors[(task, role, t)] for t in texts])

    queries = [data.queries[q] for q in data.queries]
    q_ref, q_other = vectors(reference, "query", queries), vectors(other, "query", queries)
    d_ref, d_other = vectors(reference, "document", data.docs), vectors(other, "document", data.docs)
    doc_cos = np.einsum("ij,ij->i", d_ref, d_other)
    query_cos = np.einsum("ij,ij->i", q_ref, q_other)
    top_ref = metrics.exact_search(q_ref, d_ref, data.doc_ids, depth=10)
    top_other = metrics.exact_search(q_other, d_other, data.doc_ids, depth=10)
    cross = metrics.exact_search(q_other, d_ref, data.doc_ids, depth=10)  # new queries against old documents
    overlap = [len(set(a) & set(b)) / 10 for a, b in zip(top_ref, top_other, strict=True)]
    cross_overlap = [len(set(a) & set(b)) / 10 for a, b in zip(top_ref, cross, strict=True)]
    return {
        "documents": len(doc_cos),
        "queries": len(query_cos),
        "document_cosine_min": round(float(doc_cos.min()), 6),
        "document_cosine_p01": round(float(np.quantile(doc_cos, 0.01)), 6),
        "document_cosine_mean": round(float(doc_cos.mean()), 6),
        "query_cosine_min": round(float(query_cos.min()), 6),
        "top10_overlap_mean": round(float(np.mean(overlap)), 4),
        "top10_identical_sets": round(float(np.mean([o == 1.0 for o in overlap])), 4),
        "top10_identical_order": round(float(np.mean([a == b for a, b in zip(top_ref, top_other, strict=True)])), 4),
        "top1_same": round(float(np.mean([a[0] == b[0] for a, b in zip(top_ref, top_other, strict=True)])), 4),
        "cross_top10_overlap_mean": round(float(np.mean(cross_overlap)), 4),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"machine": machine(), "tolerance": TOLERANCE, "seed_sets": args.seed_sets}
    others = {dtype: Recording(Encoder(device="cpu", dtype=dtype), args.cache) for dtype in args.dtypes}
    for dtype, other in others.items():  # the faster dtypes first: their figures stand even if fp32 is stopped
        out[dtype] = harness(other, args, dtype)
    reference = Recording(Encoder(device="cpu", dtype="fp32"), args.cache)
    out["fp32"] = harness(reference, args, "fp32")
    for dtype, other in others.items():
        out[f"{dtype}+fp32 mixed"] = harness(Mixed(reference, other), args, dtype)
        if dtype != "int8" and (not args.only or "scifact" in args.only):
            out[f"{dtype} agreement"] = agreement(reference, other, args.data_root)
    out["load_at_end"] = load_average()
    out["verdicts"] = verdicts(out, args.dtypes)
    return out


def differences(r: dict[str, Any], name: str) -> dict[str, dict[str, float]]:
    return {
        folder: {row: round(v - r["fp32"][folder][row], 6) for row, v in rows.items()}
        for folder, rows in r[name].items()
    }


def verdicts(r: dict[str, Any], dtypes: list[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for dtype in dtypes:
        worst = max(
            abs(d)
            for name in (dtype, f"{dtype}+fp32 mixed")
            for rows in differences(r, name).values()
            for d in rows.values()
        )
        out[dtype] = {"largest_change": round(worst, 6), "shares_fp32_space": worst <= TOLERANCE}
    return out


def merged(earlier: dict[str, Any], new: dict[str, Any], dtypes: list[str]) -> dict[str, Any]:
    """An earlier run's figures with this run's sets and variants added: vectors are the same whenever they are
    made, so runs on different sets or variants (each with the fp32 reference of the same run) add up; a variant
    measured again replaces its earlier figure, the set's other variants stay. Each run's machine and load stay on
    record under ``runs``."""
    out = {**earlier, **{k: v for k, v in new.items() if k.endswith(" agreement")}}
    for name in ["fp32", *dtypes, *(f"{d}+fp32 mixed" for d in dtypes)]:
        before, after = earlier.get(name, {}), new.get(name, {})
        out[name] = {
            s: {**before.get(s, {}), **after.get(s, {})} for s in [*before, *(s for s in after if s not in before)]
        }
    runs = earlier.get("runs") or [{k: earlier[k] for k in ("machine", "load_at_end") if k in earlier}]
    out["runs"] = [*runs, {"machine": new["machine"], "load_at_end": new["load_at_end"], "sets": list(new["fp32"])}]
    out["verdicts"] = verdicts(out, sorted(set(dtypes) | set(earlier.get("verdicts", {}))))
    return out


def markdown(r: dict[str, Any]) -> str:
    folders = list(r["fp32"])
    titles = {s.folder: f"{s.title}<br>{s.metric_label}" for s in SUITE}
    lines = [
        "| dtype | variant | " + " | ".join(titles[f] for f in folders) + " |",
        "|---|---|" + "---:|" * len(folders),
    ]
    for name in [n for n in r if n == "fp32" or n in r["verdicts"] or n.endswith(" mixed")]:
        for row in VARIANTS:
            if not any(row in r[name].get(f, {}) for f in folders):
                continue
            cells = []
            for f in folders:
                value = r[name].get(f, {}).get(row)
                if value is None:
                    cells.append("-")
                elif name == "fp32":
                    cells.append(f"{value:.4f}")
                else:
                    cells.append(f"{value:.4f} ({value - r['fp32'][f][row]:+.4f})")
            lines.append(f"| {name} | {row} | " + " | ".join(cells) + " |")
    for dtype, v in r["verdicts"].items():
        lines += [
            "",
            f"**{dtype}**: the largest change of any home-set figure, its own vectors or mixed with fp32 ones, is "
            f"{v['largest_change']:.4f} (tolerance {r['tolerance']}): "
            + ("it shares the fp32 embedding space." if v["shares_fp32_space"] else "it needs a space of its own."),
        ]
        a = r.get(f"{dtype} agreement")
        if a:
            lines += [
                "",
                f"SciFact under the retrieval task as it runs by default, {dtype} against fp32: document vectors at cosine >= "
                f"{a['document_cosine_min']:.5f} (1st percentile {a['document_cosine_p01']:.5f}, mean "
                f"{a['document_cosine_mean']:.6f}), query vectors >= {a['query_cosine_min']:.5f}; top-10 overlap "
                f"{a['top10_overlap_mean']:.3f} on average over {a['queries']} queries ({a['top10_identical_sets']:.1%} "
                f"identical sets, {a['top10_identical_order']:.1%} identical order, top 1 the same for "
                f"{a['top1_same']:.1%}); {dtype} queries against fp32 documents: top-10 overlap "
                f"{a['cross_top10_overlap_mean']:.3f} with fp32 ones.",
            ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=DATA)
    parser.add_argument("--dtypes", nargs="+", default=["bf16"], choices=["bf16", "int8"])
    parser.add_argument("--seed-sets", type=int, default=20, help="classification seed sets (the suite's 20)")
    parser.add_argument("--only", nargs="*", help="these set folders only (a smoke test)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--cache", type=Path, help="keep each call's vectors here; a rerun resumes from them")
    parser.add_argument("--json-out", type=Path, help="write the raw figures here")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="add this run's sets to --json-out's earlier figures (a set measured again replaces its old figures)",
    )
    args = parser.parse_args()
    result = run(args)
    if args.merge and args.json_out and args.json_out.is_file():
        result = merged(json.loads(args.json_out.read_text()), result, args.dtypes)
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=1) + "\n")
    print(markdown(result))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
