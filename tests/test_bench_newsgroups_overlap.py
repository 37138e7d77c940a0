"""benchmarks/newsgroups_overlap.py: which 20NG test subjects a training source shares a thread or a line with."""

from __future__ import annotations

from pathlib import Path

from data_files import make_newsgroups
from helpers import load_benchmark

from taskvec.data import splits
from taskvec.data.newsgroups import thread_key

newsgroups_overlap = load_benchmark("newsgroups_overlap")


def test_counts_the_test_subjects_whose_thread_or_line_a_source_has(tmp_path: Path) -> None:
    make_newsgroups(tmp_path / "data" / "twenty_newsgroups")  # test subjects: Re: engine noise, brake pads, orbit
    source_posts = {
        "rec.autos/9": "Subject: engine noise\n\nbody\n",  # the same thread as "Re: engine noise", another line
        "rec.autos/8": "Subject: brake pads\n\nbody\n",  # the same line
        "sci.med/7": "Subject: flu shots\n\nbody\n",  # neither
    }
    make_newsgroups(tmp_path / "source", source_posts)
    found = newsgroups_overlap.overlap(str(tmp_path / "source" / "20news-bydate-test.tar.gz"), tmp_path / "data")
    assert found["test, all"] == {"subjects": 3, "thread_in_source": 2, "line_in_source": 1}
    subjects = ["Re: engine noise", "brake pads", "orbit of Mars \xe9t\xe9"]
    fold1 = [
        s for s, keep in zip(subjects, splits.in_fold([thread_key(s) for s in subjects], 1, 2), strict=True) if keep
    ]
    assert found["test fold 1/2"] == {
        "subjects": len(fold1),
        "thread_in_source": sum(thread_key(s) in {"engine noise", "brake pads"} for s in fold1),
        "line_in_source": sum(s == "brake pads" for s in fold1),
    }
