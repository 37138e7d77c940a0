"""Clustering sets: labelled texts clustered as one set, or MTEB's records of several sets clustered one by one."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

from taskvec.data import fields
from taskvec.data.labelled import LabelledTexts
from taskvec.data.records import read_records
from taskvec.errors import DataError


@dataclass(frozen=True)
class ClusteringData:
    name: str
    layout: str
    test: LabelledTexts  # every text of every set, in order
    set_sizes: tuple[int, ...] = ()  # MTEB's layout: ``test`` is several sets, clustered one by one; () = one set

    def sets(self) -> list[tuple[int, int]]:
        """(start, end) of each set within ``test``."""
        sizes = self.set_sizes or (len(self.test.texts),)
        ends = list(accumulate(sizes))
        return [(end - size, end) for size, end in zip(sizes, ends, strict=True)]


def holds_clustering_sets(path: Path) -> bool:
    """Whether a records file is in MTEB's layout: its first record has a ``sentences`` field."""
    first = next(read_records(path), None)
    return first is not None and "sentences" in first[1]


def read_clustering_sets(path: Path, name: str) -> ClusteringData:
    """Records of {"sentences": [...], "labels": [...]}, one clustering set per record."""
    wanted = "'sentences' and 'labels' lists of the same length (one clustering set per record)"
    texts: list[str] = []
    labels: list[str] = []
    sizes: list[int] = []
    for row in read_records(path):
        if not isinstance(row[1].get("sentences"), list):
            raise DataError(f"{row[0]}: 'sentences' is not a list.", field="sentences", fix=f"Give {wanted}.")
        items = list(fields.list_items(row, ("sentences", "labels"), wanted))
        if not items:
            raise DataError(f"{row[0]} holds an empty set.", field="sentences", fix="Remove the record.")
        for item in items:
            texts.append(fields.text(item, "sentences", wanted))
            labels.append(fields.label(item, "labels", wanted))
        sizes.append(len(items))
    return ClusteringData(name, "mteb_sets", LabelledTexts(texts, labels), tuple(sizes))
