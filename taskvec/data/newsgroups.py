"""The 20 Newsgroups archive in its bydate layout: a tar of ``<top>/<newsgroup>/<id>`` posts.

MTEB clusters the posts' ``Subject:`` lines by newsgroup; training groups them by discussion thread (the subject
without its Re:/Fwd: prefixes), so that a thread never straddles a split.
"""

from __future__ import annotations

import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from taskvec.data.labelled import LabelledTexts
from taskvec.data.records import require_file
from taskvec.errors import DataError

NEWSGROUPS_TAR = "20news-bydate-test.tar.gz"
_REPLY_PREFIX = re.compile(r"^\s*((re|fwd?|was)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


@dataclass(frozen=True)
class Post:
    member: str  # its path in the archive
    newsgroup: str
    subject: str  # the header's Subject: line as written ("Re: " included); "" when the post has none
    body: str  # everything after the header's blank line


def read_newsgroup_posts(path: Path) -> list[Post]:
    """Every post of the archive, in archive order (the bydate archives are sorted by path)."""
    require_file(path)
    posts = []
    with tarfile.open(path, "r:*") as archive:
        for member in archive:
            parts = member.name.split("/")
            stream = archive.extractfile(member) if member.isfile() else None
            if len(parts) < 2 or stream is None:
                continue
            header, _, body = stream.read().decode("latin-1").partition("\n\n")
            subject = next(
                (line[len("Subject:") :].strip() for line in header.split("\n") if line.startswith("Subject:")), ""
            )
            posts.append(Post(member.name, parts[-2], subject, body))
    if not posts:
        raise DataError(
            f"{path} holds no posts in <newsgroup>/<id> folders.", field=str(path), fix=f"Use {NEWSGROUPS_TAR}."
        )
    return posts


def read_newsgroup_subjects(path: Path) -> LabelledTexts:
    """The ``Subject:`` line of every post, labelled by its newsgroup."""
    posts = read_newsgroup_posts(path)
    if untitled := next((p for p in posts if not p.subject), None):
        raise DataError(
            f"{path}: post {untitled.member!r} has no Subject: header.",
            field=str(path),
            fix="Use the bydate distribution of 20 Newsgroups, or the generic test.jsonl layout.",
        )
    return LabelledTexts([p.subject for p in posts], [p.newsgroup for p in posts])


def thread_key(subject: str) -> str:
    """A discussion thread's key: the subject without Re:/Fwd: prefixes, case and spacing."""
    return " ".join(_REPLY_PREFIX.sub("", subject).lower().split())
