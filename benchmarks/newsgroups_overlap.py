"""How much of the 20NG test split a training source shares threads with (docs/training-data.md, "train split").

The suite reads 20NG on the test split's subject lines; the clustering adapter trains on fold 0 of 2 of that split,
cut by thread so that fold 1 shares no thread with it. A training source from elsewhere, the bydate *train* split
say, can still share threads with the test split (its split is by date, and threads straddle it). This counts, for
the whole test split and for fold 1, the subjects whose thread (``taskvec.data.newsgroups.thread_key``) or exact
subject line the source also has.

    python benchmarks/newsgroups_overlap.py --source PATH.tar.gz [--data-root ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def overlap(source: str, data_root: Path) -> dict[str, dict[str, int]]:
    from taskvec.data.newsgroups import thread_key
    from taskvec.eval.checks import _newsgroup_subjects
    from taskvec.train.data import read_source

    texts = read_source(source).texts
    threads, lines = {thread_key(t) for t in texts}, set(texts)
    out = {}
    for name, fold in (("test, all", None), ("test fold 1/2", 1)):
        subjects, _ = _newsgroup_subjects(data_root, fold)
        out[name] = {
            "subjects": len(subjects),
            "thread_in_source": sum(thread_key(s) in threads for s in subjects),
            "line_in_source": sum(s in lines for s in subjects),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="a training source, as `taskvec train --data` takes it")
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args(argv)
    print(json.dumps(overlap(args.source, args.data_root), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
