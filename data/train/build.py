"""Rebuild the extra training sets (docs/training-data.md) from snapshots of their public source repositories.

Same machinery as the held-out panel (``data/panel/build.py``: pinned commits read with ``git show``, seeded and
deterministic, the same writers), in the layouts ``taskvec train --data`` reads: a BEIR folder whose judgements are
``qrels/train.tsv`` (retrieval), a ``train.jsonl`` of ``text1``/``text2``/``score`` pairs (similarity) or of
``text``/``label`` records (classification, clustering). None of these sets shares a domain with its kind's panel
sets (docs/panel.md).

    python data/train/build.py --mirrors DIR [--sets NAME ...] [--out data/train]

``DIR`` holds one bare snapshot per repository as ``DIR/<owner>+<name>/repo``. A set whose snapshot is missing is
reported and skipped. The sets whose licence allows redistribution are committed; the others stay out of git.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import io
import itertools
import json
import random
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _panel_builder():  # data/panel is a folder of scripts, not a package: load its builder by path
    spec = importlib.util.spec_from_file_location("panel_build", HERE.parent / "panel" / "build.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


panel = _panel_builder()
Source, clean, write_beir, write_jsonl = panel.Source, panel.clean, panel.write_beir, panel.write_jsonl

# Origin repositories and the commits every set is read from.
TATQA = ("NExTplusplus/TAT-QA", "870accc41953dcde885aabeb963d94aabdc0fbc3")
POLICYQA = ("wasiahmad/PolicyQA", "775538bc6d932e9d0dd16975d4373659cf8964fe")
LINKSO = ("Vremold/LinkSO", "d9dde1a5586d4d7d41183261dfcbdfdf326e9cc2")
# The snapshot lacks TAT-QA's train file (too large for it); its dev and gold-test files hold 3,300 questions.
TATQA_FILES = ("dataset_raw/tatqa_dataset_dev.json", "dataset_raw/tatqa_dataset_test_gold.json")
POLICYQA_FILES = ("data/dev.json", "data/test.json")  # likewise: train.json is not in the snapshot
LINKSO_FILES = ("SOPostClassifier/data/train", "SOPostClassifier/data/validate")  # CSV: title, body, label
INSURANCEQA = ("shuzi/insuranceQA", "5c380dd086067adacc2fec3bfa920a78e57bdcf6")
IYAS = ("diyessi/Iyas", "3773b29aa35d63946abcdd02b5081c681e834773")  # holds TREC and SemEval-2015 Task 3 data
TWEETEVAL = ("cardiffnlp/tweeteval", "4fbd22cd78421f05b1ecdb4fc5725bc7a7bd8f66")
INSURANCEQA_FILES = ("V2/InsuranceQA.question.anslabel.raw.encoded.gz", "V2/vocabulary")
TREC_FILE = "data/question-classifier_en/train_5500.label"  # Li & Roth's 5,452 training questions, Latin-1
CQA_DIR = "semeval2015-3/data/SemEval2015-Task3-English-data/datasets"
# The snapshot lacks CQA-QL-train.xml (too large for it): the dev and test files hold 629 questions.
CQA_FILES = (f"{CQA_DIR}/CQA-QL-devel.xml", f"{CQA_DIR}/emnlp15/CQA-QL-test.xml")
CQA_SCORES = {"Good": 2.0, "Potential": 1.0, "Bad": 0.0}  # "Dialogue" (chat, often the asker's) and others: dropped
OFFENSIVE_DIR = "datasets/offensive"  # TweetEval's OLID; its sentiment train texts are not in the snapshot
MIN_PER_LABEL = 10  # labels with fewer texts are dropped: supervised contrastive loss needs partners for each


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


# ------------------------------------------------------------------------- similarity, classification, clustering
def _labelled(rows: list[tuple[str, str]], per_label: int | None, seed: int) -> list[dict[str, str]]:
    """Distinct texts (the first label a text has wins) of labels with at least MIN_PER_LABEL texts, at most
    ``per_label`` of each (a seeded sample), in label then original order: a rebuild gives the same file."""
    by_label: dict[str, list[str]] = {}
    seen: set[str] = set()
    for text, label in rows:
        if text and text.lower() not in seen:
            seen.add(text.lower())
            by_label.setdefault(label, []).append(text)
    rng = random.Random(seed)
    out = []
    for label in sorted(by_label):
        texts = by_label[label]
        if len(texts) < MIN_PER_LABEL:
            continue
        if per_label is not None and len(texts) > per_label:
            keep = set(rng.sample(range(len(texts)), per_label))
            texts = [t for i, t in enumerate(texts) if i in keep]
        out += [{"text": t, "label": label} for t in texts]
    return out


def _write_labelled(out: Path, rows: list[dict[str, str]]) -> str:
    return f"{write_jsonl(out / 'train.jsonl', rows)} texts, {len({r['label'] for r in rows})} labels"


def insuranceqa_questions(mirrors: Path) -> list[tuple[str, str, list[str]]]:
    """(insurance product, question, its ground-truth answer ids) of every InsuranceQA V2 question, the question's
    word ids (``idx_N``) turned back into its words through the vocabulary."""
    src = Source(mirrors, INSURANCEQA)
    questions_file, vocabulary_file = INSURANCEQA_FILES
    words = dict(line.split("\t", 1) for line in src.text(vocabulary_file).splitlines() if "\t" in line)
    out = []
    for line in gzip.decompress(src.bytes(questions_file)).decode("utf-8").splitlines():
        product, question, answers = line.split("\t")
        out.append((product, clean(" ".join(words[w] for w in question.split())), answers.split()))
    return out


def build_insuranceqa_similarity(mirrors: Path, out: Path) -> str:
    """Insurance customer questions in graded pairs: 2 when two questions share a ground-truth answer (InsuranceQA's
    answers were written once and reused for every question they answer, so these are paraphrases), 1 for one of
    them with a question on the same product that shares no answer, 0 with a question on another product."""
    questions = [q for q in insuranceqa_questions(mirrors) if q[1]]
    by_answer: dict[str, list[int]] = {}
    by_product: dict[str, list[int]] = {}
    for i, (product, _, answers) in enumerate(questions):
        by_product.setdefault(product, []).append(i)
        for a in answers:
            by_answer.setdefault(a, []).append(i)
    same_answer = sorted(
        {pair for ids in by_answer.values() for pair in itertools.combinations(ids, 2)}
    )  # index pairs in file order
    rng = random.Random(2)
    rows = []
    for a, b in same_answer:
        text_a, text_b = questions[a][1], questions[b][1]
        if text_a.lower() == text_b.lower():
            continue
        answers = set(questions[a][2])
        product = questions[a][0]
        related = rng.choice([i for i in by_product[product] if i != a and not answers & set(questions[i][2])])
        other = rng.choice([i for p, ids in sorted(by_product.items()) if p != product for i in ids])
        rows += [
            {"text1": text_a, "text2": text_b, "score": 2.0},
            {"text1": text_a, "text2": questions[related][1], "score": 1.0},
            {"text1": text_a, "text2": questions[other][1], "score": 0.0},
        ]
    return f"{write_jsonl(out / 'train.jsonl', rows)} pairs"


def build_insuranceqa_clustering(mirrors: Path, out: Path) -> str:
    """Insurance customer questions labelled by the product they ask about (life, auto, home, renters, annuities,
    ...): at most 300 per product; "other-insurance" (36 questions on no one product) is dropped."""
    rows = [(q, product) for product, q, _ in insuranceqa_questions(mirrors) if product != "other-insurance"]
    return _write_labelled(out, _labelled(rows, 300, seed=3))


def _cqa_text(subject: str | None, body: str | None) -> str:
    """A forum post: its subject, then its body unless the body repeats the subject (often its first words)."""
    subject, body = clean(subject or ""), clean(body or "")
    return body if body.lower().startswith(subject.lower().rstrip(".")) else clean(f"{subject}. {body}")


def build_cqa_similarity(mirrors: Path, out: Path) -> str:
    """Qatar Living forum questions and their replies, graded by the SemEval-2015 Task 3 annotators: 2 a good answer,
    1 potentially useful, 0 bad (chat and non-English replies are dropped)."""
    src = Source(mirrors, IYAS)
    rows = []
    for path in CQA_FILES:
        for question in ET.fromstring(src.text(path)).iter("Question"):
            text = _cqa_text(question.findtext("QSubject"), question.findtext("QBody"))
            for comment in question.iter("Comment"):
                reply = clean(comment.findtext("CBody") or "")
                if text and reply and comment.get("CGOLD") in CQA_SCORES:
                    rows.append({"text1": text, "text2": reply, "score": CQA_SCORES[comment.get("CGOLD", "")]})
    return f"{write_jsonl(out / 'train.jsonl', rows)} pairs"


def build_cqa_retrieval(mirrors: Path, out: Path) -> str:
    """Qatar Living forum questions -> the replies SemEval-2015 Task 3's annotators judged good answers to them. Every
    reply of every thread is a document (good, potential, bad and dialogue alike), so a question's own thread's other
    replies, which share its words, are its hardest distractors."""
    src = Source(mirrors, IYAS)
    corpus: dict[str, str] = {}
    queries: dict[str, str] = {}
    good: dict[str, list[str]] = {}
    for path in CQA_FILES:
        for question in ET.fromstring(src.text(path)).iter("Question"):
            text = _cqa_text(question.findtext("QSubject"), question.findtext("QBody"))
            for comment in question.iter("Comment"):
                reply = clean(comment.findtext("CBody") or "")
                if reply:
                    corpus[comment.get("CID", "")] = reply
                    if text and comment.get("CGOLD") == "Good":
                        queries[question.get("QID", "")] = text
                        good.setdefault(question.get("QID", ""), []).append(comment.get("CID", ""))
    return write_beir(out, corpus, queries, good, split="train")


def trec_questions(mirrors: Path) -> list[tuple[str, str]]:
    """(question, ``COARSE:fine`` type) of TREC's 5,452 training questions, tokenisation undone where it is safe."""
    out = []
    for line in Source(mirrors, IYAS).bytes(TREC_FILE).decode("latin-1").splitlines():
        label, _, question = line.partition(" ")
        question = re.sub(r"`` ?(.*?) ?''", r'"\1"', question)
        question = re.sub(r" ([?.,!;:]|'s|n't)(?= |$)", r"\1", question)
        out.append((clean(re.sub(r"` (.*?) '", r"'\1'", question)), label))
    return out


def build_trec_classification(mirrors: Path, out: Path) -> str:
    """Open-domain factoid questions labelled by the answer type they ask for (TREC's 50 fine types: a person, a
    date, a definition, a city, ...); types with fewer than 10 questions are dropped."""
    return _write_labelled(out, _labelled(trec_questions(mirrors), None, seed=4))


def build_trec_clustering(mirrors: Path, out: Path) -> str:
    """The same questions by coarse answer type (abbreviation, description, entity, human, location, number): at
    most 1,000 per type."""
    rows = [(q, label.split(":")[0]) for q, label in trec_questions(mirrors)]
    return _write_labelled(out, _labelled(rows, 1000, seed=5))


def build_offensive_classification(mirrors: Path, out: Path) -> str:
    """Tweets labelled offensive or not (TweetEval's copy of OLID, SemEval-2019 Task 6, train split): at most 1,500
    per label. User mentions were already masked by the origin (``@user``)."""
    src = Source(mirrors, TWEETEVAL)
    names = dict(line.split("\t") for line in src.text(f"{OFFENSIVE_DIR}/mapping.txt").splitlines() if line)
    texts = src.text(f"{OFFENSIVE_DIR}/train_text.txt").splitlines()
    labels = src.text(f"{OFFENSIVE_DIR}/train_labels.txt").split()
    if len(texts) != len(labels):
        raise ValueError(f"TweetEval offensive: {len(texts)} tweets for {len(labels)} labels")
    return _write_labelled(
        out, _labelled([(clean(t), names[lab]) for t, lab in zip(texts, labels, strict=True)], 1500, seed=6)
    )


# What each set built from its pinned commit holds, as its SOURCE.md records it: (the origin's name in this module,
# that commit, rows, labels or distinct scores). A rebuild from the same commit that disagrees fails: a set that
# silently changed size would train a different adapter than its model card says.
RECORDED: dict[str, tuple[str, str, int, int]] = {
    "insuranceqa-similarity": ("INSURANCEQA", INSURANCEQA[1], 1527, 3),
    "qatarliving-similarity": ("IYAS", IYAS[1], 2857, 3),
    "trec-classification": ("IYAS", IYAS[1], 5331, 42),
    "offensive-classification": ("TWEETEVAL", TWEETEVAL[1], 3000, 2),
    "insuranceqa-clustering": ("INSURANCEQA", INSURANCEQA[1], 3132, 11),
    "trec-clustering": ("IYAS", IYAS[1], 4768, 6),
}


def check_recorded(name: str, out: Path) -> None:
    """Raise unless ``out/train.jsonl`` has the recorded size of ``name``, where it was built from the recorded
    commit (a set built from another commit, a test's small origin say, has no record to meet)."""
    origin, commit, rows, distinct = RECORDED[name]
    if globals()[origin][1] != commit:
        return
    records = [json.loads(line) for line in (out / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    found = (len(records), len({r["score"] if "score" in r else r["label"] for r in records}))
    if found != (rows, distinct):
        raise ValueError(
            f"{name}: built {found[0]} rows with {found[1]} distinct labels or scores from {commit[:12]}, but its "
            f"SOURCE.md records {rows} and {distinct}. Check the snapshot and the builder; if the change is meant, "
            "update RECORDED and SOURCE.md together (and retrain what trained on it)."
        )


def _checked(name: str, build: Callable[[Path, Path], str]) -> Callable[[Path, Path], str]:
    def checked(mirrors: Path, out: Path) -> str:
        summary = build(mirrors, out)
        check_recorded(name, out)
        return summary

    return checked


BUILDERS: dict[str, Callable[[Path, Path], str]] = {
    "tatqa-retrieval": build_tatqa,
    "policyqa-retrieval": build_policyqa,
    "stackoverflow-retrieval": build_stackoverflow,
    "insuranceqa-similarity": build_insuranceqa_similarity,
    "qatarliving-similarity": build_cqa_similarity,
    "qatarliving-retrieval": build_cqa_retrieval,
    "trec-classification": build_trec_classification,
    "offensive-classification": build_offensive_classification,
    "insuranceqa-clustering": build_insuranceqa_clustering,
    "trec-clustering": build_trec_clustering,
}
BUILDERS |= {name: _checked(name, BUILDERS[name]) for name in RECORDED}


if __name__ == "__main__":
    raise SystemExit(panel.main(None, BUILDERS, HERE, __doc__))
