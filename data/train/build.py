"""Rebuild the extra training sets (docs/training-data.md) from snapshots of their public source repositories.

Same machinery as the held-out panel (``data/panel/build.py``: pinned commits read with ``git show``, seeded and
deterministic, the same BEIR writer), but the judgements are ``qrels/train.tsv``, the split ``taskvec train --data``
reads. None of these sets shares a domain with the panel's retrieval sets (health, debate, Wikipedia questions).

    python data/train/build.py --mirrors DIR [--sets NAME ...] [--out data/train]

``DIR`` holds one bare snapshot per repository as ``DIR/<owner>+<name>/repo``. A set whose snapshot is missing is
reported and skipped. The sets whose licence allows redistribution are committed; the others stay out of git.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _panel_builder():  # data/panel is a folder of scripts, not a package: load its builder by path
    spec = importlib.util.spec_from_file_location("panel_build", HERE.parent / "panel" / "build.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


panel = _panel_builder()
Source, clean, write_beir = panel.Source, panel.clean, panel.write_beir

# Origin repositories and the commits every set is read from.
TATQA = ("NExTplusplus/TAT-QA", "870accc41953dcde885aabeb963d94aabdc0fbc3")
POLICYQA = ("wasiahmad/PolicyQA", "775538bc6d932e9d0dd16975d4373659cf8964fe")
LINKSO = ("Vremold/LinkSO", "d9dde1a5586d4d7d41183261dfcbdfdf326e9cc2")
# The snapshot lacks TAT-QA's train file (too large for it); its dev and gold-test files hold 3,300 questions.
TATQA_FILES = ("dataset_raw/tatqa_dataset_dev.json", "dataset_raw/tatqa_dataset_test_gold.json")
POLICYQA_FILES = ("data/dev.json", "data/test.json")  # likewise: train.json is not in the snapshot
LINKSO_FILES = ("SOPostClassifier/data/train", "SOPostClassifier/data/validate")  # CSV: title, body, label


def _table_text(rows: list[list[str]]) -> str:
    """A financial table as text: one row per clause, cells joined by ' | ', empty cells dropped."""
    lines = [" | ".join(c.strip() for c in row if c and c.strip()) for row in rows]
    return clean("; ".join(line for line in lines if line))


def build_tatqa(mirrors: Path, out: Path) -> str:
    """Questions on annual reports -> the table and/or paragraphs that answer them (TAT-QA dev + gold test).

    Every table and paragraph of every report excerpt is a document, so the other paragraphs and the table of the
    same report are hard distractors. A question answered from the table judges the table relevant; from text, the
    paragraphs its ``rel_paragraphs`` name; from both, both.
    """
    src = Source(mirrors, TATQA)
    corpus: dict[str, str] = {}
    queries: dict[str, str] = {}
    qrels: dict[str, list[str]] = {}
    for path in TATQA_FILES:
        for context in json.loads(src.text(path)):
            table_id = f"t-{context['table']['uid']}"
            corpus[table_id] = _table_text(context["table"]["table"])
            paragraphs = {str(p["order"]): f"p-{p['uid']}" for p in context["paragraphs"]}
            for p in context["paragraphs"]:
                corpus[f"p-{p['uid']}"] = clean(p["text"])
            for q in context["questions"]:
                relevant = [table_id] if q["answer_from"] in ("table", "table-text") else []
                if q["answer_from"] in ("text", "table-text"):
                    relevant += [paragraphs[str(o)] for o in q["rel_paragraphs"] if str(o) in paragraphs]
                if relevant and q["uid"] not in queries:
                    queries[q["uid"]] = clean(q["question"])
                    qrels[q["uid"]] = relevant
    corpus = {d: t for d, t in corpus.items() if t}
    qrels = {q: [d for d in ds if d in corpus] for q, ds in qrels.items()}
    return write_beir(out, corpus, queries, {q: ds for q, ds in qrels.items() if ds}, split="train")


def build_policyqa(mirrors: Path, out: Path) -> str:
    """Questions on website privacy policies -> the policy paragraphs that answer them (PolicyQA dev + test).

    PolicyQA's questions are few and asked of many policies (about 1,150 distinct questions for 8,000 question-
    paragraph pairs), so each distinct question is one query, relevant to every paragraph it was asked of; a
    question asked of one paragraph only would otherwise repeat as several queries with different answers.
    Every paragraph of the 40 policies is a document.
    """
    src = Source(mirrors, POLICYQA)
    corpus: dict[str, str] = {}
    asked: dict[str, list[str]] = {}
    for path in POLICYQA_FILES:
        for policy in json.loads(src.text(path))["data"]:
            for n, paragraph in enumerate(policy["paragraphs"]):
                doc_id = f"{policy['title']}#{n}"
                corpus[doc_id] = clean(paragraph["context"])
                for qa in paragraph["qas"]:
                    docs = asked.setdefault(clean(qa["question"]), [])
                    if doc_id not in docs:
                        docs.append(doc_id)
    texts = sorted(asked)
    queries = {f"q{i}": t for i, t in enumerate(texts)}
    return write_beir(out, corpus, queries, {f"q{i}": asked[t] for i, t in enumerate(texts)}, split="train")


def build_stackoverflow(mirrors: Path, out: Path) -> str:
    """Stack Overflow Java questions: title -> the question's body (code blocks already cut out by the origin).

    The origin's third column (whether a post suits its textbook-linking study) is ignored: every post is kept.
    A title whose body repeats an earlier one's points at that document.
    """
    src = Source(mirrors, LINKSO)
    corpus: dict[str, str] = {}
    doc_of: dict[str, str] = {}  # body text -> document id
    queries: dict[str, str] = {}
    qrels: dict[str, list[str]] = {}
    for path in LINKSO_FILES:
        for title, body, _ in csv.reader(io.StringIO(src.text(path))):
            title, body = clean(title), clean(body)
            if not title or not body:
                continue
            doc = doc_of.setdefault(body, f"d{len(doc_of)}")
            corpus[doc] = body
            queries[f"q{len(queries)}"] = title
            qrels[f"q{len(qrels)}"] = [doc]
    return write_beir(out, corpus, queries, qrels, split="train")


BUILDERS: dict[str, Callable[[Path, Path], str]] = {
    "tatqa-retrieval": build_tatqa,
    "policyqa-retrieval": build_policyqa,
    "stackoverflow-retrieval": build_stackoverflow,
}


if __name__ == "__main__":
    raise SystemExit(panel.main(None, BUILDERS, HERE, __doc__))
