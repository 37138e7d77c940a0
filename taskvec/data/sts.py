"""The STS Benchmark's own files (``sts-train.csv``, ``sts-dev.csv``, ``sts-test.csv``).

They are tab-separated, not real CSV: genre, source, year, id, score, sentence1, sentence2[, extra columns]. No
quoting (sentences contain quotes), so lines are split on tabs as they are. Columns 0 and 1 name each pair's genre
(``main-news``, ``main-captions``; ``main-forum`` in train but ``main-forums`` in dev and test) and original set
(``headlines``, ``MSRpar``, ``track5.en-en``, ...: the years' SemEval tasks the benchmark was drawn from).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from taskvec.data.pairs import PairData
from taskvec.data.records import read_lines, source_name
from taskvec.errors import DataError


@dataclass(frozen=True)
class StsRow:
    genre: str
    source: str
    score: float
    text1: str
    text2: str


def read_sts_rows(path: Path) -> list[StsRow]:
    """Every row of an STS Benchmark file, sentences as written (some end in spaces)."""
    rows = []
    for number, line in read_lines(path):
        columns = line.split("\t")
        try:
            rows.append(StsRow(columns[0], columns[1], float(columns[4]), columns[5], columns[6]))
        except (IndexError, ValueError):
            raise DataError(
                f"{path}:{number} is not an STS Benchmark row (genre, source, year, id, score, s1, s2).",
                field=str(path),
                fix="Use the sts-*.csv files of the original distribution, or the generic test.jsonl layout.",
            ) from None
    if not rows:
        raise DataError(
            f"{path} holds no STS Benchmark rows (genre, source, year, id, score, sentence1, sentence2).",
            field=str(path),
            fix="Use the sts-*.csv files of the original distribution.",
        )
    return rows


def read_sts_benchmark(
    path: Path, *, genre: str | None = None, source: str | None = None, name: str | None = None
) -> PairData:
    """The scored pairs of an STS Benchmark file, or of some of its genres or sources.

    ``genre`` and ``source`` are comma-separated lists (``#genre=G`` and ``#source=S`` in a training path); a name
    the file lacks is an error listing the names it has. The set is named ``name`` (default ``folder/file``)
    followed by the filters, e.g. ``stsbenchmark/sts-train.csv#genre=main-news``.
    """
    rows = read_sts_rows(path)
    wanted = {"genre": _names(genre), "source": _names(source)}
    name = name or source_name(path)
    for column, names in wanted.items():
        if names is None:
            continue
        have = {getattr(row, column) for row in rows}
        if missing := sorted(names - have):
            raise DataError(
                f"{path} has no {column} {', '.join(map(repr, missing))}; its {column}s are {', '.join(sorted(have))}.",
                field=column,
                fix=f"Name some of its {column}s after '#{column}=' (comma-separated).",
            )
        name += f"#{column}={','.join(sorted(names))}"
    kept = [r for r in rows if all(names is None or getattr(r, c) in names for c, names in wanted.items())]
    if not kept:
        raise DataError(
            f"{name}: no pairs have both the genre and the source asked for.",
            field="source",
            fix="Name a source of that genre, or drop one of '#genre=' and '#source='.",
        )
    return PairData(name, "stsbenchmark", [r.text1 for r in kept], [r.text2 for r in kept], [r.score for r in kept])


def _names(spec: str | None) -> set[str] | None:
    return None if spec is None else {n.strip() for n in spec.split(",") if n.strip()}
