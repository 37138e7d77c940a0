"""Text pairs: scored pairs (similarity), 0/1 pairs (pair classification), the Twitter URL Corpus, and training's
query/positive records.

Generic pair files are records of {text1, text2, score} or {text1, text2, label}, under any alias of
:mod:`taskvec.data.fields`; MTEB's pair-classification record of parallel ``sentence1``/``sentence2``/``labels``
lists is read pair by pair.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from taskvec.data import fields
from taskvec.data.records import Row, read_lines, read_records
from taskvec.errors import DataError


@dataclass(frozen=True)
class PairData:
    """Text pairs with a target each: a gold score (similarity) or a 0/1 label (pair classification)."""

    name: str
    layout: str
    texts1: list[str]
    texts2: list[str]
    targets: list[float]


def read_scored_pairs(path: Path, name: str, layout: str = "generic") -> PairData:
    """Records of {text1, text2, score}; any scale."""
    return _read_pairs(path, name, layout, fields.SCORE_KEYS, fields.number)


def read_binary_pairs(path: Path, name: str, layout: str = "generic") -> PairData:
    """Records of {text1, text2, label}, label 0 or 1."""
    return _read_pairs(path, name, layout, fields.PAIR_LABEL_KEYS, fields.binary)


def _read_pairs(
    path: Path, name: str, layout: str, target_keys: tuple[str, ...], parse: Callable[[Row, str, str], float]
) -> PairData:
    wanted = (
        f"{fields.expected(fields.TEXT1_KEYS)}, {fields.expected(fields.TEXT2_KEYS)} and "
        f"{fields.expected(target_keys)} fields"
    )
    texts1, texts2, targets = [], [], []
    for row in read_records(path):
        keys = tuple(fields.pick_key(row, k) for k in (fields.TEXT1_KEYS, fields.TEXT2_KEYS, target_keys))
        for item in fields.list_items(row, keys, wanted):
            texts1.append(fields.text(item, keys[0], wanted))
            texts2.append(fields.text(item, keys[1], wanted))
            targets.append(parse(item, keys[2], wanted))
    if not texts1:
        raise DataError(f"{path} holds no pairs.", field=str(path), fix="Add text pairs to it.")
    return PairData(name, layout, texts1, texts2, targets)


# ------------------------------------------------------------------------------------------ Twitter URL Corpus
TWITTER_URL_FILE = "Twitter_URL_Corpus_test.txt"
PARAPHRASE_VOTES = 4  # the corpus README: 4 or more of 6 annotators make a paraphrase, 2 or fewer do not
_VOTES = re.compile(r"\((\d+),\s*(\d+)\)")


def read_twitter_url(path: Path, name: str) -> PairData:
    """``s1 TAB s2 TAB (n,6) TAB url``; the targets are n, the annotators (of 6) who said paraphrase.

    Pairs with n == 3 are dropped, as the corpus README says; ``n >= PARAPHRASE_VOTES`` is a paraphrase. The votes
    are the third field (some rows have an extra empty column later). Texts are kept as written, spaces included.
    """
    texts1, texts2, votes = [], [], []
    for number, line in read_lines(path):
        columns = line.split("\t")
        found = _VOTES.fullmatch(columns[2].strip()) if len(columns) >= 3 else None
        if found is None:
            raise DataError(
                f"{path}:{number} is not 'sentence1<TAB>sentence2<TAB>(n,6)<TAB>url'.",
                field=str(path),
                fix="Use the corpus's own test file, or the generic test.jsonl layout.",
            )
        yes = int(found.group(1))
        if yes == 3:
            continue
        texts1.append(columns[0])
        texts2.append(columns[1])
        votes.append(float(yes))
    return PairData(name, "twitter_url_corpus", texts1, texts2, votes)


# ------------------------------------------------------------------------------------- query/positive records
@dataclass(frozen=True)
class QueryPositives:
    """Training pairs as sentence-transformers writes them: a query, its positive texts, optional hard negatives."""

    queries: list[str]
    positives: list[list[str]]
    negatives: list[list[str]]


def read_query_positives(path: Path) -> QueryPositives:
    """Records of {query, positive[, negatives]}; ``positive`` is one text or a list of texts."""
    wanted = "'query' and 'positive' fields (and optionally a 'negatives' list)"
    queries, positives, negatives = [], [], []
    for row in read_records(path):
        queries.append(fields.text(row, "query", wanted))
        positive = fields.value(row, "positive", wanted)
        positives.append(_texts(row, "positive", positive if isinstance(positive, list) else [positive], wanted))
        negatives.append(_texts(row, "negatives", row[1].get("negatives") or [], wanted))
    if not queries:
        raise DataError(f"{path} holds no records.", field=str(path), fix="Add query/positive records to it.")
    return QueryPositives(queries, positives, negatives)


def _texts(row: Row, key: str, items: object, wanted: str) -> list[str]:
    if not isinstance(items, list):
        raise DataError(f"{row[0]}: field {key!r} must be a list of texts.", field=key, fix=f"Give {wanted}.")
    return [fields.text((f"{row[0]} {key}[{i}]", {key: t}), key, wanted) for i, t in enumerate(items)]
