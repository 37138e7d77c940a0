"""The data layer: each reader on small files in its layout, with the quirks of the original sets, and the errors
that name the file, the line or field, and the fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from data_files import ORIGINAL_FILES, make_beir, make_newsgroups, write_jsonl

from taskvec.data import fields, splits
from taskvec.data.beir import read_beir
from taskvec.data.clustering import holds_clustering_sets, read_clustering_sets
from taskvec.data.labelled import read_labelled, read_semicolon_labelled
from taskvec.data.licence import UNKNOWN, licence_near
from taskvec.data.newsgroups import read_newsgroup_posts, read_newsgroup_subjects, thread_key
from taskvec.data.pairs import read_binary_pairs, read_query_positives, read_scored_pairs, read_twitter_url
from taskvec.data.records import read_lines, read_records
from taskvec.data.sts import read_sts_benchmark, read_sts_rows
from taskvec.errors import DataError, InvalidInputError


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_data_layer_needs_no_torch_lancedb_or_mcp() -> None:
    code = (
        "import sys; sys.modules.update(torch=None, lancedb=None, mcp=None)\n"
        "import taskvec.data.beir, taskvec.data.clustering, taskvec.data.labelled, taskvec.data.licence\n"
        "import taskvec.data.newsgroups, taskvec.data.pairs, taskvec.data.sts, taskvec.data.splits"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------------------------- records
def test_records_of_every_type_say_where_they_came_from(tmp_path: Path) -> None:
    jsonl = _write(tmp_path / "a.jsonl", '{"text": "one"}\n\n{"text": "two"}\n')
    assert list(read_records(jsonl)) == [(f"{jsonl}:1", {"text": "one"}), (f"{jsonl}:3", {"text": "two"})]
    csv_file = _write(tmp_path / "b.csv", 'text1,text2,label\n"a, b",c,1\nd,e,0\n')
    assert [r[1]["text1"] for r in read_records(csv_file)] == ["a, b", "d"]
    tsv = _write(tmp_path / "c.tsv", 'sentence\tlabel\n"""I wish"" it worked"\t1\n')
    assert next(read_records(tsv)) == (f"{tsv}:2", {"sentence": '"I wish" it worked', "label": "1"})
    pq.write_table(pa.table({"id": ["p1"], "score": [0.5]}), tmp_path / "d.parquet")
    assert list(read_records(tmp_path / "d.parquet")) == [
        (f"{tmp_path / 'd.parquet'}:row 1", {"id": "p1", "score": 0.5})
    ]
    assert list(read_lines(jsonl)) == [(1, '{"text": "one"}'), (3, '{"text": "two"}')]


@pytest.mark.parametrize(("content", "needle"), [("{broken\n", "b.jsonl:1 is not valid JSON"), ("[1]\n", "a list")])
def test_records_refuse_what_is_not_one_object_per_line(tmp_path: Path, content: str, needle: str) -> None:
    with pytest.raises(DataError, match=needle) as info:
        list(read_records(_write(tmp_path / "b.jsonl", content)))
    assert "one JSON object per line" in str(info.value)
    assert isinstance(info.value, InvalidInputError)  # every data error is an input error of the TaskvecError tree
    with pytest.raises(DataError, match="not a records file"):
        list(read_records(_write(tmp_path / "c.docx", "x")))
    with pytest.raises(DataError, match=r"nope\.jsonl does not exist"):
        list(read_records(tmp_path / "nope.jsonl"))


# -------------------------------------------------------------------------------------------------- fields
def test_field_aliases_pick_the_first_present_in_any_case() -> None:
    assert fields.pick_key(("f:1", {"sentence": "x", "label": 1}), fields.TEXT_KEYS) == "sentence"
    assert fields.pick_key(("f:1", {"Sentence": "x"}), fields.TEXT_KEYS) == "Sentence"
    assert fields.pick_key(("f:1", {"other": "x"}), fields.TEXT_KEYS) == "text"  # so the error names 'text'
    assert fields.expected(fields.TEXT2_KEYS) == "'text2' (or 'sentence2') (or 'sentence_B')"


def test_field_errors_name_the_place_the_field_and_the_fix() -> None:
    row = ("f.jsonl:7", {"text": "", "score": "high", "label": 2})
    with pytest.raises(DataError, match=r"f.jsonl:7 has no 'text2' field \(found: text, score, label\)") as info:
        fields.value(row, "text2", "'text2' fields")
    assert info.value.field == "text2" and info.value.fix == "Each record needs 'text2' fields."
    with pytest.raises(DataError, match="non-empty string"):
        fields.text(row, "text", "x")
    for score in ("high", "NaN", "inf", float("-inf"), True, [3]):
        with pytest.raises(DataError, match="must be a finite number"):
            fields.number(("f.jsonl:7", {"score": score}), "score", "x")
    assert fields.number(("f:1", {"score": " 2.5 "}), "score", "x") == 2.5  # CSV cells are text
    with pytest.raises(DataError, match="must be 0 or 1"):
        fields.binary(row, "label", "x")
    assert fields.label(("f:1", {"label": 1}), "label", "x") == fields.label(("f:2", {"label": " 1"}), "label", "x")
    for bad in (["sports", "x"], {"a": 1}, True, 1.5, "  "):
        with pytest.raises(DataError, match="must be one label") as refused:
            fields.label(("f:3", {"label": bad}), "label", "x")
        assert "one record per label" in (refused.value.fix or "")
    with pytest.raises(DataError, match="f:4 has a null 'label' field"):
        fields.label(("f:4", {"text": "t", "label": None}), "label", "x")


def test_files_that_are_not_utf8_are_refused_by_line_and_a_bom_is_skipped(tmp_path: Path) -> None:
    from taskvec.data.records import read_records

    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"text": "fine"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"latin.jsonl is not UTF-8 text: byte 0xe9 on line 2") as refused:
        list(read_records(latin))
    assert "iconv -f latin1 -t utf-8" in (refused.value.fix or "")
    sheet = tmp_path / "sheet.csv"
    sheet.write_bytes(b"\xef\xbb\xbftext,label\nhello,greeting\n")
    assert [r for _, r in read_records(sheet)] == [{"text": "hello", "label": "greeting"}]  # no BOM in the name
    sheet.write_bytes(sheet.read_bytes() + b"\xff,x\n")
    with pytest.raises(DataError, match=r"sheet\.csv is not UTF-8 text: byte 0xff on line 3"):
        list(read_records(sheet))


# ---------------------------------------------------------------------------------------------------- BEIR
def test_beir_joins_title_and_text_and_keeps_only_judged_queries(tmp_path: Path) -> None:
    make_beir(tmp_path / "set")
    data = read_beir(tmp_path / "set", "test")
    assert data.docs[data.doc_ids.index("d99")] == "copper kettle polished at home"
    assert list(data.queries) == ["q1", "q2", "q3"]  # q4 has no judgement
    assert data.qrels["q1"] == {"d1": 2} and data.name == "set"


def test_beir_errors(tmp_path: Path) -> None:
    make_beir(tmp_path / "set")
    with pytest.raises(DataError, match=r"qrels/train.tsv missing"):
        read_beir(tmp_path / "set", "train")
    _write(tmp_path / "set" / "qrels" / "train.tsv", "qx\td1\t1\n")
    with pytest.raises(DataError, match=r"judges 1 queries that .* lacks"):
        read_beir(tmp_path / "set", "train")
    _write(tmp_path / "set" / "qrels" / "train.tsv", "q1\td1\n")
    with pytest.raises(DataError, match="not 3"):
        read_beir(tmp_path / "set", "train")


# --------------------------------------------------------------------------------------------------- STS-B
def test_sts_benchmark_splits_on_tabs_and_keeps_quotes(tmp_path: Path) -> None:
    path = _write(tmp_path / "stsbenchmark" / "sts-test.csv", ORIGINAL_FILES["stsbenchmark/sts-test.csv"])
    data = read_sts_benchmark(path)
    assert data.texts1 == ['A "quoted" man plays.', "Stocks fall.", "Iron melts."]
    assert data.texts2[1] == "Cats sleep." and data.targets == [5.0, 1.25, 0.0]
    assert data.name == "stsbenchmark/sts-test.csv" and read_sts_benchmark(path, name="x").name == "x"
    assert [r.source for r in read_sts_rows(path)] == ["MSRvid", "headlines", "headlines"]


def test_sts_genre_and_source_filters_take_lists_and_name_what_the_file_has(tmp_path: Path) -> None:
    rows = [
        "main-news\tMSRpar\t2012\t1\t4.5\tA man.\tA man.",
        "main-news\theadlines\t2013\t2\t1.0\tUp.\tDown.",
        "main-captions\timages\t2014\t3\t0.5\tA cat.\tA car.",
    ]
    path = _write(tmp_path / "sts-train.csv", "\n".join(rows) + "\n")
    assert read_sts_benchmark(path, genre="main-news").targets == [4.5, 1.0]
    assert read_sts_benchmark(path, source="headlines,images").targets == [1.0, 0.5]
    both = read_sts_benchmark(path, genre="main-news", source="headlines, images")
    assert both.targets == [1.0] and both.name.endswith("sts-train.csv#genre=main-news#source=headlines,images")
    with pytest.raises(DataError, match="no genre 'main-forums'; its genres are main-captions, main-news"):
        read_sts_benchmark(path, genre="main-forums")
    with pytest.raises(DataError, match="no source 'deft-forum'; its sources are MSRpar, headlines, images"):
        read_sts_benchmark(path, source="deft-forum")
    with pytest.raises(DataError, match="no pairs have both"):
        read_sts_benchmark(path, genre="main-captions", source="MSRpar")


def test_sts_benchmark_errors_name_the_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"sts-dev.csv:2 is not an STS Benchmark row") as info:
        read_sts_rows(_write(tmp_path / "sts-dev.csv", "main\tf\t2012\t1\t4.5\ta\tb\nnot an STS row\n"))
    assert "original distribution" in str(info.value)
    with pytest.raises(DataError, match="holds no STS Benchmark rows"):
        read_sts_rows(_write(tmp_path / "sts-empty.csv", "\n"))


# --------------------------------------------------------------------------------------------------- pairs
def test_pairs_under_mteb_and_hugging_face_names(tmp_path: Path) -> None:
    sts = tmp_path / "test.jsonl"
    write_jsonl(sts, [{"sentence1": "a man", "sentence2": "a person", "score": 4.2}])
    assert read_scored_pairs(sts, "s").texts2 == ["a person"]
    # GLUE's STS-B scores in "label", SICK's relatedness in "relatedness_score" beside sentence_A/sentence_B
    glue = _write(tmp_path / "glue.csv", "sentence1,sentence2,label,idx\na man,a person,4.2,0\nup,down,0.5,1\n")
    assert read_scored_pairs(glue, "g").targets == [4.2, 0.5]
    sick = _write(tmp_path / "sick.csv", "pair_ID,sentence_A,sentence_B,relatedness_score\n1,a dog,a dog runs,4.9\n")
    loaded = read_scored_pairs(sick, "sick")
    assert (loaded.texts1, loaded.texts2, loaded.targets) == (["a dog"], ["a dog runs"], [4.9])
    labelled = _write(tmp_path / "pairs.csv", "sentence1,sentence2,label\nyes,yeah,1\n")
    assert read_binary_pairs(labelled, "p").targets == [1.0]


def test_mteb_pair_lists_are_read_pair_by_pair(tmp_path: Path) -> None:
    path = tmp_path / "test.jsonl"
    mteb_pairs = {"sentence1": ["yes", "no"], "sentence2": ["yeah", "maybe"], "labels": [1, 0]}
    write_jsonl(path, [mteb_pairs])  # MTEB's pair classification: one record of parallel lists
    loaded = read_binary_pairs(path, "p")
    assert (loaded.texts1, loaded.texts2, loaded.targets) == (["yes", "no"], ["yeah", "maybe"], [1.0, 0.0])
    write_jsonl(path, [{**mteb_pairs, "labels": [1]}])
    with pytest.raises(DataError, match="lists of the same length"):
        read_binary_pairs(path, "p")


def test_pair_errors_name_the_missing_field_with_its_aliases(tmp_path: Path) -> None:
    path = tmp_path / "test.jsonl"
    write_jsonl(path, [{"sentence1": "a man", "score": 4.2}])
    with pytest.raises(DataError, match=r"no 'text2' field.*'text2' \(or 'sentence2'\)"):
        read_scored_pairs(path, "s")
    write_jsonl(path, [{"text1": "a", "text2": "b", "label": 2}])
    with pytest.raises(DataError, match="0 or 1"):
        read_binary_pairs(path, "p")
    _write(path, "\n")
    with pytest.raises(DataError, match="holds no pairs"):
        read_scored_pairs(path, "s")


def test_twitter_url_keeps_the_votes_and_drops_the_undecided(tmp_path: Path) -> None:
    name = "twitter_url_corpus/Twitter_URL_Corpus_test.txt"
    data = read_twitter_url(_write(tmp_path / name, ORIGINAL_FILES[name]), "t")
    assert data.targets == [5.0, 2.0, 4.0]  # (3,6) dropped; the row with an extra column is read
    assert data.texts2[2] == "the rover landed " and data.layout == "twitter_url_corpus"
    with pytest.raises(DataError, match=r"bad.txt:1 is not 'sentence1<TAB>sentence2<TAB>\(n,6\)<TAB>url'"):
        read_twitter_url(_write(tmp_path / "bad.txt", "a\tb\tyes\n"), "t")


def test_query_positive_records(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    write_jsonl(path, [{"query": "q", "positive": "p", "negatives": ["n"]}, {"query": "r", "positive": ["p", "s"]}])
    data = read_query_positives(path)
    assert data.queries == ["q", "r"] and data.positives == [["p"], ["p", "s"]] and data.negatives == [["n"], []]
    write_jsonl(path, [{"query": "q", "positive": "p", "negatives": "n"}])
    with pytest.raises(DataError, match="'negatives' must be a list"):
        read_query_positives(path)


# ------------------------------------------------------------------------------------------------ labelled
def test_labelled_records_unquote_csv_style_and_accept_label_names(tmp_path: Path) -> None:
    name = "amazon_counterfactual/EN_train.tsv"
    data = read_labelled(_write(tmp_path / name, ORIGINAL_FILES[name]))
    assert data.texts[0] == '"I wish it had "worked""'  # MTEB's copy holds the unquoted text
    assert read_labelled(tmp_path / name, quoting=False).texts[0] == '"""I wish it had ""worked"""""'
    assert data.labels == ["1", "0", "0", "0", "1"]
    write_jsonl(tmp_path / "t.jsonl", [{"sentence": "I love it", "label": 1}, {"text": "meh", "category": "x"}])
    assert read_labelled(tmp_path / "t.jsonl") == type(data)(["I love it", "meh"], ["1", "x"])
    write_jsonl(tmp_path / "t.jsonl", [{"text": "", "label": 1}])
    with pytest.raises(DataError, match="'text'"):
        read_labelled(tmp_path / "t.jsonl")


def test_semicolon_lines_split_on_the_last_semicolon(tmp_path: Path) -> None:
    data = read_semicolon_labelled(_write(tmp_path / "train.txt", ORIGINAL_FILES["emotion/train.txt"]))
    assert data.texts == ["i feel great; really", "i am sad", "i feel fine"]
    assert data.labels == ["joy", "sadness", "joy"]
    with pytest.raises(DataError, match=r"bad.txt:2 is not a 'text;label' line"):
        read_semicolon_labelled(_write(tmp_path / "bad.txt", "ok;joy\nno label here\n"))


# ---------------------------------------------------------------------------------------------- newsgroups
def test_newsgroups_take_the_header_subject_and_the_folder_label(tmp_path: Path) -> None:
    make_newsgroups(tmp_path / "ng")
    tar = tmp_path / "ng" / "20news-bydate-test.tar.gz"
    data = read_newsgroup_subjects(tar)
    assert data.texts == ["Re: engine noise", "brake pads", "orbit of Mars été"]
    assert data.labels == ["rec.autos", "rec.autos", "sci.space"]
    posts = read_newsgroup_posts(tar)
    assert posts[0].body == "body\nSubject: not this one\n" and posts[0].member == "20news-bydate-test/rec.autos/1"
    assert thread_key("Re: RE: Space  Shuttle") == thread_key("space shuttle") == "space shuttle"


def test_newsgroups_errors(tmp_path: Path) -> None:
    make_newsgroups(tmp_path / "ng", {"rec.autos/1": "From: a@b\n\nno subject\n"})
    with pytest.raises(DataError, match=r"'20news-bydate-test/rec\.autos/1' has no Subject: header"):
        read_newsgroup_subjects(tmp_path / "ng" / "20news-bydate-test.tar.gz")
    make_newsgroups(tmp_path / "empty", {})
    with pytest.raises(DataError, match="holds no posts"):
        read_newsgroup_posts(tmp_path / "empty" / "20news-bydate-test.tar.gz")


# ---------------------------------------------------------------------------------------------- clustering
def test_mteb_clustering_sets(tmp_path: Path) -> None:
    path = tmp_path / "test.jsonl"
    first = {"sentences": ["apple"] * 3 + ["iron"] * 3, "labels": ["x"] * 3 + ["y"] * 3}
    write_jsonl(path, [first, {"sentences": ["a", "b", "c", "d"], "labels": [1, 2, 1, 2]}])
    assert holds_clustering_sets(path)
    data = read_clustering_sets(path, "c")
    assert data.layout == "mteb_sets" and data.sets() == [(0, 6), (6, 10)] and data.test.labels[6:] == list("1212")
    write_jsonl(path, [{"sentences": ["a", "b"], "labels": ["x"]}])
    with pytest.raises(DataError, match="same length"):
        read_clustering_sets(path, "c")
    write_jsonl(path, [first, {"sentences": [], "labels": []}])
    with pytest.raises(DataError, match="empty set"):
        read_clustering_sets(path, "c")
    write_jsonl(path, [{"text": "a", "label": "x"}])
    assert not holds_clustering_sets(path)


# -------------------------------------------------------------------------------------------------- splits
def test_folds_partition_the_groups() -> None:
    keys = [f"thread {i % 30}" for i in range(90)]
    f0, f1 = splits.in_fold(keys, 0, 2), splits.in_fold(keys, 1, 2)
    assert all(a != b for a, b in zip(f0, f1, strict=True)) and 0 < sum(f0) < 90
    assert {k for k, hit in zip(keys, f0, strict=True) if hit}.isdisjoint(
        k for k, hit in zip(keys, f1, strict=True) if hit
    )
    assert splits.in_fold(keys, 0, 2, seed=1) != f0
    with pytest.raises(DataError, match=r"fold 2 is outside 0\.\.1"):
        splits.in_fold(keys, 2, 2)


def test_validation_groups_are_seeded_nested_and_capped() -> None:
    keys = [f"text {i}" for i in range(200)]
    held = splits.validation_groups(keys, 0.2, 1000, seed=1)
    assert len(held) == 40 and held == splits.validation_groups(list(reversed(keys)), 0.2, 1000, seed=1)
    assert splits.validation_groups(keys, 0.2, 10, seed=1) <= held  # a smaller cap keeps a subset
    assert splits.validation_groups(keys, 0.2, 1000, seed=2) != held
    assert splits.validation_groups(keys, 0.0, 1000, seed=1) == set()
    assert len(splits.validation_groups(["a", "b"], 1.0, 10, seed=0, keep_one=True)) == 1


# ------------------------------------------------------------------------------------------------- licence
def test_licence_is_read_from_the_note_beside_the_data(tmp_path: Path) -> None:
    data = _write(tmp_path / "set" / "train.txt", "a;b\n")
    assert licence_near(data) == UNKNOWN
    _write(tmp_path / "set" / "README.md", "# Set\n\n## Licence\n\nCC BY 4.0 (attribution)\n")
    assert licence_near(data) == "CC BY 4.0 (attribution)"
    _write(tmp_path / "set" / "SOURCE.md", "Source: somewhere\nLicense: MIT\n")  # SOURCE.md is read first
    assert licence_near(tmp_path / "set") == "MIT"
