"""Rebuild the held-out panel (docs/panel.md) from snapshots of its public source repositories.

Each set is read from one pinned commit of its origin repository with ``git show COMMIT:PATH`` and written under
``--out`` (default: this folder) in a layout ``taskvec eval`` reads: a BEIR folder, ``test.jsonl`` of scored or 0/1
pairs, ``train.jsonl``/``test.jsonl`` of labelled texts. Every sample and split is drawn with a fixed seed, so a
rebuild gives the same files byte for byte. The sets whose licence allows redistribution are committed; the others
are rebuilt here and stay out of git (see ``.gitignore`` and each set's SOURCE.md).

    python data/panel/build.py --mirrors DIR [--sets NAME ...] [--out data/panel]

``DIR`` holds one bare snapshot per repository as ``DIR/<owner>+<name>/repo`` (what the search tool's ``fetch``
writes; ``git clone --bare https://github.com/<owner>/<name> DIR/<owner>+<name>/repo`` at the pinned commit does
the same). A set whose snapshot is missing is reported and skipped.

Why this file is past ~400 lines: one short builder per panel set (each names its files, commit and seed), and
the shared readers and writers they use; data/train/build.py loads these helpers rather than copying them.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import random
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from pathlib import Path

HERE = Path(__file__).resolve().parent
MAX_CHARS = 1500  # MiniLM reads 256 word pieces (about 1,000-1,200 characters); longer texts are cut here

# Origin repositories and the commits every set is read from.
MEDQUAD = ("abachaa/MedQuAD", "577bd37b96c02d1833b2c9eed2de9f96964e96cb")
ARGKP = ("IBM/KPA_2021_shared_task", "2f5e2d5ad5a387fe731da2f00b423ce1d845c5d2")
BANKING = ("PolyAI-LDN/task-specific-datasets", "57ec275d8078af65b7731c2a98be812d844a6d6b")
WIKIQA = ("kartikbhalala/temp", "17e04f3f31d8926a3cddf8a649d1efb26781919a")
BIOSSES = (
    "kathrinblagec/neural-sentence-embedding-models-for-biomedical-applications",
    "36a0baff84935e9adf3affd4ec92940fd5332efe",
)
SICK = ("kkalouli/SICK-processing", "0848f4aec60870122a4ca18de08ba0e25f6f9a75")
NL2BASH = ("TellinaTool/nl2bash", "466c5fe873ab08c7cc0112ea1521cc6ad9c20992")
CONALA = ("yuxiang2/CoNaLa", "ef779b8fcdf23997ae7e8a2e0e039ba08c81ffda")
CODEXGLUE = ("microsoft/CodeXGLUE", "ac74a62802a0dd159b3258c78a2df8ad36cdf2b9")
AGNEWS = (
    "madhubandru/Text-Classification-on-News-Articles-using-BERT-Framework",
    "082f2db7c08a8fa3e19c46df0b4b5b0a5f81d1cd",
)
FPB = ("Pepephant/tmp", "67da00f9e75e1cb2a9d993bb0841e5ed5173b2ad")  # the release file, before a UTF-8 re-encoding
DAILYDIALOG = ("liuzeming01/XDailyDialog", "62949b52bf2eae170f47c24c3afc226d94d70c39")  # later: a 1k sample only
EMOBANK = ("JULIELab/EmoBank", "248ce2a43e165a66d31aeaed83cff9641d6654e0")
MEDQUAD_COLLECTIONS = (  # the collections that kept their answers (the readme: 3 MedlinePlus subsets lost theirs)
    "1_CancerGov_QA",
    "2_GARD_QA",
    "3_GHR_QA",
    "4_MPlus_Health_Topics_QA",
    "5_NIDDK_QA",
    "6_NINDS_QA",
    "7_SeniorHealth_QA",
    "8_NHLBI_QA_XML",
    "9_CDC_QA",
)
AGNEWS_CLASSES = {"1": "World", "2": "Sports", "3": "Business", "4": "Sci/Tech"}
DAILYDIALOG_EMOTIONS = ("no emotion", "anger", "disgust", "fear", "happiness", "sadness", "surprise")
# Utterances that a training set also holds (a Qatar Living question, data/train): never a panel text.
DAILYDIALOG_IN_TRAINING = frozenset({"what is your nationality ?"})


class Source:
    """One pinned commit of a snapshot: its files as text (UTF-8) or as bytes (gzip, other encodings)."""

    def __init__(self, mirrors: Path, repo: tuple[str, str]) -> None:
        name, self.commit = repo
        self.git_dir = mirrors / name.replace("/", "+") / "repo"
        if (self.git_dir / ".git").is_dir():
            self.git_dir = self.git_dir / ".git"
        if not (self.git_dir / "HEAD").is_file():
            raise FileNotFoundError(f"no snapshot of {name} at {self.git_dir}")

    def text(self, path: str) -> str:
        return self.bytes(path).decode("utf-8")

    def bytes(self, path: str) -> bytes:
        return subprocess.run(
            ["git", "--git-dir", str(self.git_dir), "show", f"{self.commit}:{path}"], check=True, capture_output=True
        ).stdout

    def files(self, folder: str) -> list[str]:
        return sorted(self._git("ls-tree", "--name-only", f"{self.commit}", f"{folder}/").split())

    def _git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "--git-dir", str(self.git_dir), *args], check=True, capture_output=True, text=True
        ).stdout


def clean(text: str) -> str:
    return " ".join(text.split())[:MAX_CHARS]


def in_half(key: str, half: int) -> bool:
    """A seeded hash split of groups into two halves (the few-shot pool and the test texts)."""
    return int(hashlib.sha256(f"panel:{key}".encode()).hexdigest(), 16) % 2 == half


def write_jsonl(path: Path, rows: Iterable[dict[str, object]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(row, ensure_ascii=False, sort_keys=True) for row in rows]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines)


def write_beir(
    folder: Path, docs: dict[str, str], queries: dict[str, str], qrels: dict[str, list[str]], split: str = "test"
) -> str:
    """A BEIR folder whose judgements are ``qrels/<split>.tsv`` (the panel's are test; data/train/build.py's train)."""
    write_jsonl(folder / "corpus.jsonl", ({"_id": i, "title": "", "text": t} for i, t in docs.items()))
    write_jsonl(folder / "queries.jsonl", ({"_id": q, "text": queries[q]} for q in qrels))
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t1" for q, ds in qrels.items() for d in ds]
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    (folder / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f"{len(qrels)} queries, {len(docs)} documents, {len(lines) - 1} judgements"


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# ------------------------------------------------------------------------------------------------ MedQuAD
def medquad_documents(src: Source) -> list[tuple[str, str, list[tuple[str, str, str]]]]:
    """(collection, document id, [(question id, question, answer)]) of every document with answered questions."""
    out = []
    for collection in MEDQUAD_COLLECTIONS:
        for path in src.files(collection):
            root = ET.fromstring(src.text(path))
            pairs = []
            for qa in root.iter("QAPair"):
                question, answer = qa.find("Question"), qa.find("Answer")
                if question is None or answer is None or not (answer.text or "").strip():
                    continue
                pairs.append((question.get("qid") or "", clean(question.text or ""), clean(answer.text or "")))
            if pairs:
                out.append((collection, f"{collection}/{root.get('id')}", pairs))
    return out


def build_medquad_retrieval(mirrors: Path, out: Path) -> str:
    """Consumer health questions -> the NIH answers: 40 documents (diseases) per collection, all their answers as
    the corpus, 500 of their questions as queries (the other questions on the same disease are hard distractors)."""
    docs_by_collection: dict[str, list] = {}
    for doc in medquad_documents(Source(mirrors, MEDQUAD)):
        docs_by_collection.setdefault(doc[0], []).append(doc)
    rng = random.Random(0)
    corpus: dict[str, str] = {}
    questions: list[tuple[str, str, str]] = []
    for collection in MEDQUAD_COLLECTIONS:
        pool = docs_by_collection[collection]
        for _, doc_id, pairs in rng.sample(pool, min(40, len(pool))):
            for n, (_, question, answer) in enumerate(pairs):
                key = f"{doc_id}#{n}"
                corpus[key] = answer
                questions.append((f"q{len(questions)}", question, key))
    kept = sorted(rng.sample(questions, 500), key=lambda q: int(q[0][1:]))
    return write_beir(out, corpus, {q: t for q, t, _ in kept}, {q: [d] for q, _, d in kept})


def build_medquad_clustering(mirrors: Path, out: Path) -> str:
    """NIH answers labelled by the institute's site that wrote them (cancer, rare and genetic diseases, diabetes and
    kidneys, neurology, heart and lungs, ...): 200 per collection."""
    rng = random.Random(1)
    rows = []
    by_collection: dict[str, list[str]] = {}
    for collection, _, pairs in medquad_documents(Source(mirrors, MEDQUAD)):
        by_collection.setdefault(collection, []).extend(sorted({a for _, _, a in pairs}))
    for collection in MEDQUAD_COLLECTIONS:
        answers = by_collection[collection]
        rows += [{"text": a, "label": collection} for a in rng.sample(answers, min(200, len(answers)))]
    return f"{write_jsonl(out / 'test.jsonl', rows)} texts, {len(MEDQUAD_COLLECTIONS)} labels"


# -------------------------------------------------------------------------------------------------- ArgKP
def argkp_arguments(src: Source, splits: Iterable[str]) -> list[dict[str, str]]:
    rows = []
    for split in splits:
        folder = "test_data" if split == "test" else "kpm_data"
        rows += csv_rows(src.text(f"{folder}/arguments_{split}.csv"))
    return rows


def build_argkp_retrieval(mirrors: Path, out: Path) -> str:
    """Key point -> the arguments it summarises (IBM ArgKP, train and dev motions): every argument is a document."""
    src = Source(mirrors, ARGKP)
    docs = {r["arg_id"]: clean(r["argument"]) for r in argkp_arguments(src, ("train", "dev"))}
    queries: dict[str, str] = {}
    qrels: dict[str, list[str]] = {}
    for split in ("train", "dev"):
        for row in csv_rows(src.text(f"kpm_data/key_points_{split}.csv")):
            queries[row["key_point_id"]] = clean(row["key_point"])
        for row in csv_rows(src.text(f"kpm_data/labels_{split}.csv")):
            if row["label"] == "1" and row["arg_id"] in docs:
                qrels.setdefault(row["key_point_id"], []).append(row["arg_id"])
    return write_beir(out, docs, queries, dict(sorted(qrels.items())))


def build_argkp_pairs(mirrors: Path, out: Path) -> str:
    """(argument, key point) pairs of the 2021 test motions, 1 where the key point matches the argument."""
    src = Source(mirrors, ARGKP)
    args = {r["arg_id"]: clean(r["argument"]) for r in argkp_arguments(src, ("test",))}
    points = {r["key_point_id"]: clean(r["key_point"]) for r in csv_rows(src.text("test_data/key_points_test.csv"))}
    rows = [
        {"text1": args[r["arg_id"]], "text2": points[r["key_point_id"]], "label": int(r["label"])}
        for r in csv_rows(src.text("test_data/labels_test.csv"))
    ]
    return f"{write_jsonl(out / 'test.jsonl', rows)} pairs, {sum(r['label'] for r in rows)} positive"


def _argkp_topics(mirrors: Path) -> list[dict[str, str]]:
    """Every argument (train, dev and test motions) labelled by the motion it argues."""
    arguments = argkp_arguments(Source(mirrors, ARGKP), ("train", "dev", "test"))
    return [{"text": clean(r["argument"]), "label": r["topic"]} for r in arguments]


def build_argkp_topics(mirrors: Path, out: Path) -> str:
    """Arguments labelled by the motion they argue (31 motions); halves by argument hash: few-shot pool and test."""
    rows = _argkp_topics(mirrors)
    train = write_jsonl(out / "train.jsonl", (r for r in rows if in_half(r["text"], 0)))
    test = write_jsonl(out / "test.jsonl", (r for r in rows if in_half(r["text"], 1)))
    return f"{train} train / {test} test texts, {len({r['label'] for r in rows})} labels"


def build_argkp_topic_clustering(mirrors: Path, out: Path) -> str:
    """The test half of argkp-topic-classification, its texts clustered by motion (as agnews-clustering is the test
    half of agnews-classification)."""
    rows = [r for r in _argkp_topics(mirrors) if in_half(r["text"], 1)]
    return f"{write_jsonl(out / 'test.jsonl', rows)} texts, {len({r['label'] for r in rows})} labels"


# ------------------------------------------------------------------------------------------------ Banking77
def _banking(mirrors: Path, split: str) -> list[dict[str, str]]:
    rows = csv_rows(Source(mirrors, BANKING).text(f"banking_data/{split}.csv"))
    return [{"text": clean(r["text"]), "label": r["category"]} for r in rows]


def build_banking_classification(mirrors: Path, out: Path) -> str:
    train = write_jsonl(out / "train.jsonl", _banking(mirrors, "train"))
    test = write_jsonl(out / "test.jsonl", _banking(mirrors, "test"))
    return f"{train} train / {test} test texts, 77 labels"


def build_banking_clustering(mirrors: Path, out: Path) -> str:
    return f"{write_jsonl(out / 'test.jsonl', _banking(mirrors, 'test'))} texts, 77 labels"


# ------------------------------------------------------------------------------------------------- AG News
def _agnews(mirrors: Path) -> list[dict[str, str]]:
    rows = csv_rows(Source(mirrors, AGNEWS).text("ag_news_csv/test.csv"))
    return [
        {"text": clean(f"{r['title']}. {r['description'].replace(chr(92), ' ')}"), "label": AGNEWS_CLASSES[r["label"]]}
        for r in rows
    ]


def build_agnews_classification(mirrors: Path, out: Path) -> str:
    rows = _agnews(mirrors)
    train = write_jsonl(out / "train.jsonl", (r for r in rows if in_half(r["text"], 0)))
    test = write_jsonl(out / "test.jsonl", (r for r in rows if in_half(r["text"], 1)))
    return f"{train} train / {test} test texts, 4 labels"


def build_agnews_clustering(mirrors: Path, out: Path) -> str:
    rows = [r for r in _agnews(mirrors) if in_half(r["text"], 1)]
    return f"{write_jsonl(out / 'test.jsonl', rows)} texts, 4 labels"


# ---------------------------------------------------------------------------------------- similarity, QA
def build_biosses(mirrors: Path, out: Path) -> str:
    src = Source(mirrors, BIOSSES)
    lines = src.text("data/biosses_sentence_pairs_test_derived_from_github.txt").splitlines()
    scores = src.text("data/annotation_scores_from_github.txt").split()
    if len(lines) != 2 * len(scores):
        raise ValueError(f"BIOSSES: {len(lines)} sentences for {len(scores)} scores")
    rows = [
        {"text1": clean(lines[2 * i]), "text2": clean(lines[2 * i + 1]), "score": float(s)}
        for i, s in enumerate(scores)
    ]
    return f"{write_jsonl(out / 'test.jsonl', rows)} pairs"


def build_sick(mirrors: Path, out: Path) -> str:
    text = Source(mirrors, SICK).text("SICK.txt")
    rows = [
        {"text1": r["sentence_A"], "text2": r["sentence_B"], "score": float(r["relatedness_score"])}
        for r in csv.DictReader(io.StringIO(text), delimiter="\t")
        if r["SemEval_set"] == "TEST"
    ]
    return f"{write_jsonl(out / 'test.jsonl', rows)} pairs"


def build_wikiqa(mirrors: Path, out: Path) -> str:
    """WikiQA test: question -> the Wikipedia sentences that answer it, over every sentence of the test split."""
    text = Source(mirrors, WIKIQA).text("WikiQA-test.tsv")
    docs: dict[str, str] = {}
    queries: dict[str, str] = {}
    qrels: dict[str, list[str]] = {}
    for r in csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE):
        docs[r["SentenceID"]] = clean(r["Sentence"])
        queries[r["QuestionID"]] = clean(r["Question"])
        if r["Label"] == "1":
            qrels.setdefault(r["QuestionID"], []).append(r["SentenceID"])
    return write_beir(out, docs, queries, qrels)


# ------------------------------------------------------------------------------------------------------ code
def _code_search(
    pairs: Iterable[tuple[str, str]], queries_from: Iterable[str], out: Path, distractors: Iterable[str] = ()
) -> str:
    """A BEIR folder from (text, code) pairs: every distinct code (and distractor) is a document; each distinct
    text of ``queries_from`` is a query, judged against every code it is paired with."""
    code_ids: dict[str, str] = {}
    answers: dict[str, set[str]] = {}
    for text, code in pairs:
        answers.setdefault(text, set()).add(code_ids.setdefault(code, f"c{len(code_ids)}"))
    for code in distractors:
        code_ids.setdefault(code, f"c{len(code_ids)}")
    kept = list(dict.fromkeys(queries_from))
    return write_beir(
        out,
        {cid: code for code, cid in code_ids.items()},
        {f"q{i}": text for i, text in enumerate(kept)},
        {f"q{i}": sorted(answers[text]) for i, text in enumerate(kept)},
    )


def build_nl2bash(mirrors: Path, out: Path) -> str:
    """English task descriptions -> one-line shell commands (NL2Bash): every distinct command is a document; 800
    distinct descriptions, drawn with a fixed seed, are the queries."""
    src = Source(mirrors, NL2BASH)
    texts, commands = src.text("data/bash/all.nl").splitlines(), src.text("data/bash/all.cm").splitlines()
    if len(texts) != len(commands):
        raise ValueError(f"NL2Bash: {len(texts)} descriptions for {len(commands)} commands")
    pairs = [(clean(t), clean(c)) for t, c in zip(texts, commands, strict=True) if t.strip() and c.strip()]
    drawn = random.Random(0).sample(sorted({t for t, _ in pairs}), 800)
    return _code_search(pairs, drawn, out)


def build_conala(mirrors: Path, out: Path) -> str:
    """Stack Overflow intents, rewritten by annotators -> Python snippets (CoNaLa's curated split): the test intents
    are the queries; the test and train snippets are the documents (the train ones as distractors)."""
    src = Source(mirrors, CONALA)
    test, train = (json.loads(src.text(f"corpus/{split}.json")) for split in ("test", "train"))
    pairs = [(clean(r["intent"]), clean(r["code"])) for r in test + train]
    return _code_search(pairs, (text for text, _ in pairs[: len(test)]), out)


def build_cosqa(mirrors: Path, out: Path) -> str:
    """Web search queries -> Python functions (CoSQA's dev split, in CodeXGLUE): every query an annotator judged
    answered by its function (label 1) is a query; every function of the split is a document."""
    rows = json.loads(Source(mirrors, CODEXGLUE).text("Text-Code/NL-code-search-WebQuery/CoSQA/cosqa-dev.json"))
    answered = [(clean(r["doc"]), clean(r["code"])) for r in rows if r["label"] == 1]
    unanswered = [clean(r["code"]) for r in rows if r["label"] != 1]
    return _code_search(answered, (text for text, _ in answered), out, distractors=unanswered)


# -------------------------------------------------------------------------------------------------- sentiment
def _labelled_halves(
    out: Path, pairs: Iterable[tuple[str, str]], cap: int | None = None, least: int = 0, seed: int = 0
) -> str:
    """Labelled texts split in halves by text hash (few-shot pool, test texts). A text given two different labels
    is dropped and a repeated one kept once; with ``cap``, each label keeps at most that many texts (drawn with
    ``seed``); labels left with fewer than ``least`` texts are dropped."""
    labels: dict[str, set[str]] = {}
    for text, label in pairs:
        if text:
            labels.setdefault(text, set()).add(label)
    by_label: dict[str, list[str]] = {}
    for text, found in labels.items():
        if len(found) == 1:
            by_label.setdefault(next(iter(found)), []).append(text)
    rng = random.Random(seed)
    kept: set[str] = set()
    for label in sorted(by_label):
        texts = by_label[label]
        if len(texts) >= least:
            kept.update(rng.sample(texts, cap) if cap is not None and len(texts) > cap else texts)
    rows = [{"text": t, "label": next(iter(found))} for t, found in labels.items() if t in kept]
    train = write_jsonl(out / "train.jsonl", (r for r in rows if in_half(r["text"], 0)))
    test = write_jsonl(out / "test.jsonl", (r for r in rows if in_half(r["text"], 1)))
    return f"{train} train / {test} test texts, {len({r['label'] for r in rows})} labels"


def build_fpb(mirrors: Path, out: Path) -> str:
    """Financial PhraseBank (Malo et al. 2014): English financial news sentences labelled positive, negative or
    neutral by a majority of at least 50% of 5-8 annotators (``Sentences_50Agree.txt``, Latin-1, one
    ``sentence@label`` a line); every sentence, in halves."""
    lines = Source(mirrors, FPB).bytes("Sentences_50Agree.txt").decode("latin-1").splitlines()
    return _labelled_halves(out, ((clean(t), label.strip()) for t, _, label in (s.rpartition("@") for s in lines)))


def build_dailydialog(mirrors: Path, out: Path) -> str:
    """DailyDialog (Li et al. 2017) utterances labelled by the emotion annotated on each (no emotion, anger,
    disgust, fear, happiness, sadness, surprise), from XDailyDialog's copy of the English dialogues: a dialogue
    whose utterances and labels do not pair up is skipped, and so is an utterance a training set holds
    (``DAILYDIALOG_IN_TRAINING``); at most 600 texts per label (drawn with seed 0), labels with fewer than 60
    dropped; in halves."""
    src = Source(mirrors, DAILYDIALOG)
    dialogues = src.text("data/dialogues_text_En.txt").splitlines()
    emotions = src.text("data/dialogues_emotion.txt").splitlines()
    pairs = []
    for dialogue, codes in zip(dialogues, emotions, strict=True):
        turns = [clean(turn) for turn in dialogue.split("__eou__")]
        turns = turns[:-1] if turns and not turns[-1] else turns
        if len(turns) == len(codes.split()):
            pairs += [(turn, DAILYDIALOG_EMOTIONS[int(code)]) for turn, code in zip(turns, codes.split(), strict=True)]
    pairs = [(turn, label) for turn, label in pairs if turn.casefold() not in DAILYDIALOG_IN_TRAINING]
    return _labelled_halves(out, pairs, cap=600, least=60)


def emobank_valence(v: float) -> str | None:
    """EmoBank's valence (1-5, the mean of reader and writer ratings) in three bins; the bands between are left
    out: negative below 2.7, neutral 2.9-3.1, positive above 3.3."""
    return "negative" if v < 2.7 else "positive" if v > 3.3 else "neutral" if 2.9 <= v <= 3.1 else None


def build_emobank(mirrors: Path, out: Path) -> str:
    """EmoBank (Buechel and Hahn 2017): sentences of blogs, essays, fiction, letters, newspapers, travel guides
    (MASC) and news headlines (SemEval-2007) by their valence, binned by :func:`emobank_valence`; sentences of
    fewer than 3 words dropped; at most 1,500 texts per label (drawn with seed 0); in halves."""
    rows = csv_rows(Source(mirrors, EMOBANK).text("corpus/emobank.csv"))
    pairs = [(clean(r["text"]), emobank_valence(float(r["V"]))) for r in rows if len(r["text"].split()) >= 3]
    return _labelled_halves(out, ((t, label) for t, label in pairs if label is not None), cap=1500)


BUILDERS: dict[str, Callable[[Path, Path], str]] = {
    "medquad-retrieval": build_medquad_retrieval,
    "argkp-retrieval": build_argkp_retrieval,
    "wikiqa-retrieval": build_wikiqa,
    "biosses-similarity": build_biosses,
    "sick-similarity": build_sick,
    "argkp-pairs": build_argkp_pairs,
    "banking77-classification": build_banking_classification,
    "agnews-classification": build_agnews_classification,
    "argkp-topic-classification": build_argkp_topics,
    "banking77-clustering": build_banking_clustering,
    "agnews-clustering": build_agnews_clustering,
    "medquad-clustering": build_medquad_clustering,
    "argkp-topic-clustering": build_argkp_topic_clustering,
    "nl2bash-code": build_nl2bash,
    "conala-code": build_conala,
    "cosqa-code": build_cosqa,
    "fpb-sentiment": build_fpb,
    "dailydialog-emotion": build_dailydialog,
    "emobank-sentiment": build_emobank,
}


def main(
    argv: list[str] | None = None,
    builders: dict[str, Callable[[Path, Path], str]] = BUILDERS,
    out: Path = HERE,
    description: str = __doc__,
) -> int:
    """Build ``builders`` (default: the panel's) from the snapshots under ``--mirrors`` into ``--out``."""
    parser = argparse.ArgumentParser(description=description.split("\n\n")[0])
    parser.add_argument("--mirrors", type=Path, required=True, help="folder of <owner>+<name>/repo snapshots")
    parser.add_argument("--out", type=Path, default=out, help=f"folder to write the sets under (default: {out})")
    parser.add_argument("--sets", nargs="*", choices=sorted(builders), help="only these sets (default: all)")
    args = parser.parse_args(argv)
    failed = 0
    for name in args.sets or builders:
        try:
            print(f"{name}: {builders[name](args.mirrors, args.out / name)}")
        except (FileNotFoundError, subprocess.CalledProcessError) as exc:
            failed += 1
            print(f"{name}: not built ({exc})", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
