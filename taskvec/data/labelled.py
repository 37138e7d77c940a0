"""Labelled texts: records of a text and its label (JSONL, CSV, TSV), and ``text;label`` lines (the Emotion set).

The 20 Newsgroups archive and MTEB's clustering sets are labelled texts too; they have modules of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from taskvec.data import fields
from taskvec.data.records import read_lines, read_records
from taskvec.errors import DataError


@dataclass(frozen=True)
class LabelledTexts:
    texts: list[str]
    labels: list[str]


def read_labelled(
    path: Path,
    text_keys: tuple[str, ...] = fields.TEXT_KEYS,
    label_keys: tuple[str, ...] = fields.LABEL_KEYS,
    *,
    quoting: bool = True,
) -> LabelledTexts:
    """A records file of {text, label}, under any of the names in ``text_keys`` and ``label_keys``; ``quoting``
    as in :func:`~taskvec.data.records.read_records`."""
    wanted = f"{fields.expected(text_keys)} and {fields.expected(label_keys)} fields"
    texts, labels = [], []
    for row in read_records(path, quoting=quoting):
        texts.append(fields.text(row, fields.pick_key(row, text_keys), wanted))
        labels.append(fields.label(row, fields.pick_key(row, label_keys), wanted))
    if not texts:
        raise DataError(f"{path} holds no records.", field=str(path), fix="Add labelled texts to it.")
    return LabelledTexts(texts, labels)


def read_semicolon_labelled(path: Path) -> LabelledTexts:
    """``text;label`` per line, split on the last ';' (texts may contain ';'); blank lines skipped."""
    texts, labels = [], []
    for number, line in read_lines(path):
        text, sep, label = line.rpartition(";")
        if not sep or not text.strip() or not label.strip():
            raise DataError(
                f"{path}:{number} is not a 'text;label' line.",
                field=str(path),
                fix="Write each example as text;label, or use the generic train.jsonl/test.jsonl layout.",
            )
        texts.append(text)
        labels.append(label.strip())
    if not texts:
        raise DataError(f"{path} holds no 'text;label' lines.", field=str(path), fix="Add labelled texts to it.")
    return LabelledTexts(texts, labels)
