"""BEIR folders: ``corpus.jsonl`` ({"_id", "title", "text"}), ``queries.jsonl`` ({"_id", "text"}) and
``qrels/<split>.tsv`` (query-id, corpus-id, score; header row optional).

Only the queries and the split asked for are read: query metadata (SciFact's evidence labels) never is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from taskvec.data import fields
from taskvec.data.records import read_lines, read_records
from taskvec.errors import DataError


@dataclass(frozen=True)
class RetrievalData:
    """A BEIR-style collection: documents, the queries that have judgements, and the judgements."""

    name: str
    layout: str
    doc_ids: list[str]
    docs: list[str]  # title + " " + text, stripped (what MTEB encodes)
    queries: dict[str, str]  # only the queries that appear in the qrels, in qrels order
    qrels: dict[str, dict[str, int]]  # query id -> document id -> relevance grade (0 included)


def read_beir(folder: Path, split: str = "test") -> RetrievalData:
    """A BEIR folder's ``split``; documents become ``(title + " " + text).strip()`` as in MTEB."""
    corpus, queries, qrels_file = folder / "corpus.jsonl", folder / "queries.jsonl", folder / "qrels" / f"{split}.tsv"
    missing = [str(p.relative_to(folder)) for p in (corpus, queries, qrels_file) if not p.is_file()]
    if missing:
        raise DataError(
            f"{str(folder)!r} is not a BEIR folder: {', '.join(missing)} missing.",
            field="data",
            fix=f"A retrieval data set needs corpus.jsonl, queries.jsonl and qrels/{split}.tsv (BEIR layout).",
        )
    qrels = read_qrels(qrels_file)
    doc_ids, docs = [], []
    wanted = "'_id' and 'text' fields (and optionally 'title')"
    for row in read_records(corpus):
        doc_ids.append(str(fields.value(row, "_id", wanted)))
        doc = f"{row[1].get('title') or ''} {fields.value(row, 'text', wanted)}".strip()
        if not doc:
            raise DataError(
                f"{row[0]}: document {doc_ids[-1]!r} has neither title nor text.",
                field="text",
                fix="Remove the document or give it text.",
            )
        docs.append(doc)
    wanted = "'_id' and 'text' fields"
    all_queries = {
        str(fields.value(row, "_id", wanted)): fields.text(row, "text", wanted) for row in read_records(queries)
    }
    unknown = [q for q in qrels if q not in all_queries]
    if unknown:
        raise DataError(
            f"{qrels_file} judges {len(unknown)} queries that {queries} lacks (e.g. {unknown[0]!r}).",
            field="qrels",
            fix="Use the queries file that belongs to these qrels.",
        )
    return RetrievalData(folder.name, "beir", doc_ids, docs, {q: all_queries[q] for q in qrels}, qrels)


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """query id -> document id -> integer grade, in file order."""
    qrels: dict[str, dict[str, int]] = {}
    for number, line in read_lines(path):
        columns = line.split("\t")
        if len(columns) < 3:
            raise DataError(
                f"{path}:{number} has {len(columns)} tab-separated fields, not 3.",
                field="qrels",
                fix="Write each judgement as query-id<TAB>corpus-id<TAB>score.",
            )
        try:
            grade = int(float(columns[-1]))
        except ValueError:
            if number == 1:  # the header row: query-id, corpus-id, score
                continue
            raise DataError(
                f"{path}:{number}: score {columns[-1]!r} is not a number.",
                field="qrels",
                fix="Give each judgement an integer relevance grade.",
            ) from None
        qrels.setdefault(columns[0], {})[columns[1]] = grade
    if not qrels:
        raise DataError(f"{path} holds no judgements.", field="qrels", fix="Add query-document judgements.")
    return qrels
