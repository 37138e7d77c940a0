"""The command line's new verbs and its manners: no model for commands that need none, nothing created by a read,
arguments checked first, errors worded for a terminal, help on every option, settings read per concern."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import below_the_bar, default_sigint, in_subprocess
from test_cli import env, run  # noqa: F401 (fixtures)

from taskvec import service as service_module
from taskvec.cli import CORE_COMMANDS, build_parser, for_terminal

CORPUS = [
    {"id": "1", "text": "goal scored in the final minute", "label": "sports"},
    {"id": "2", "text": "whisk the eggs with sugar", "label": "cooking"},
    {"id": "3", "text": "the striker was injured", "label": "sports"},
    {"id": "4", "text": "bake for twenty minutes", "label": "cooking"},
    {"id": "5", "text": "the referee showed a red card", "label": "sports"},
]


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(json.dumps(d) for d in CORPUS))
    return path


def test_commands_that_need_no_model_load_none(run, env, corpus: Path, tmp_path: Path) -> None:  # noqa: F811
    run("index", str(corpus), "-c", "demo", "-q")
    codes, torch, out, err = in_subprocess(
        env,
        ["collections"],
        ["describe", "demo", "--json"],
        ["get", "-c", "demo", "--ids", "2", "9", "--json"],
        ["delete", "-c", "demo", "--ids", "5"],
        ["search", "x", "-c", "missing"],  # checked on the store before any model
        ["index", str(tmp_path / "missing.jsonl"), "-c", "demo"],
        ["classify", "x", "--labels", "[oops"],
        ["drop", "demo", "--yes"],
    )
    assert codes == [0, 0, 0, 0, 2, 2, 2, 0] and not torch, err
    assert (
        '"missing": [\n    "9"\n  ]' in out
        and "deleted 1 rows from 'demo'" in out
        and "dropped collection 'demo'" in out
    )
    assert "`taskvec collections`" in err and "No such file or folder" in err and "--labels is not valid JSON" in err


def test_reads_create_nothing_and_a_file_is_not_a_store(env, tmp_path: Path) -> None:  # noqa: F811
    nowhere = tmp_path / "nowhere" / "store"
    (tmp_path / "a-file").write_text("x")
    codes, _, out, err = in_subprocess(
        env,
        ["collections", "--store", str(nowhere)],
        ["describe", "demo", "--store", str(nowhere)],
        ["get", "-c", "demo", "--store", str(nowhere)],
        ["collections", "--store", str(tmp_path / "a-file")],
    )
    assert codes == [0, 2, 2, 2] and not (tmp_path / "nowhere").exists()
    assert f"store {nowhere}" in out and "Traceback" not in err
    assert err.splitlines()[-1].startswith("taskvec: error: The store") and "is a file, not a folder" in err


def test_similar_describe_get_drop_and_cluster_texts(run, corpus: Path) -> None:  # noqa: F811
    run("index", str(corpus), "-c", "demo", "-t", "similarity", "-q")
    similar = json.loads(run("similar", CORPUS[1]["text"], "-c", "demo", "--threshold", "0.99", "--json").stdout)
    assert [h["id"] for h in similar["hits"]] == ["2"] and similar["task"] == "similarity"
    described = run("describe", "demo").stdout
    assert described.startswith("- demo: 5 rows") and "task 'similarity'" in described
    peek = run("get", "-c", "demo", "--limit", "2").stdout.splitlines()
    assert len(peek) == 3 and peek[0].endswith(CORPUS[0]["text"]) and peek[-1] == "more: --offset 2"
    clusters = json.loads(run("cluster", *[d["text"] for d in CORPUS], "--k", "2", "--json").stdout)
    assert sum(c["size"] for c in clusters["clusters"]) == 5 and clusters["k"] == 2
    refused = run("drop", "demo", ok=False)  # no terminal to confirm on
    assert "without confirmation" in refused.stderr and "taskvec drop demo --yes" in refused.stderr
    assert "dropped collection 'demo' (5 rows)" in run("drop", "demo", "--yes").stdout


def test_errors_name_commands_and_flags_not_tools(run, corpus: Path) -> None:  # noqa: F811
    run("index", str(corpus), "-c", "demo", "-q")
    missing = run("search", "x", "-c", "nope", ok=False).stderr
    assert "`taskvec collections`" in missing and "list_collections" not in missing
    refused = run("similar", "x", "-c", "demo", ok=False).stderr
    assert "--task retrieval" in refused and "--task similarity" in refused and "task=" not in refused
    neither = run("classify", "x", ok=False).stderr
    assert "Pass --labels ... or --collection name-of-labelled-set" in neither
    everything = run("delete", "-c", "demo", ok=False).stderr
    assert "use `taskvec drop`" in everything and "ids=" not in everything


def test_terminal_wording_keeps_everything_else() -> None:
    assert for_terminal("Fix: search with task='retrieval' (the one held), or mode='vector'.") == (
        "Fix: search with --task retrieval (the one held), or --mode vector."
    )
    assert for_terminal("label_field names the key; see describe_collection.") == (
        "--label-field names the key; see `taskvec describe`."
    )
    unchanged = 'Write the filter as JSON, e.g. {"lang": "en"} (field: filter.$near)'
    assert for_terminal(unchanged) == unchanged


def test_every_option_of_every_command_has_help() -> None:
    core = build_parser(extensions=False)
    (commands,) = [a for a in core._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(commands.choices) == CORE_COMMANDS
    missing: list[str] = []

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, command in action.choices.items():
                    walk(command, f"{path} {name}")
            elif not action.help:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")

    walk(build_parser(extensions=True), "taskvec")  # eval and train too
    assert missing == [], f"options without help: {missing}"


def test_a_default_collection_stands_in_for_the_flag(run, monkeypatch, corpus: Path) -> None:  # noqa: F811
    monkeypatch.setenv("TASKVEC_DEFAULT_COLLECTION", "notes")
    assert json.loads(run("index", str(corpus), "-q", "--json").stdout)["collection"] == "notes"
    assert json.loads(run("search", CORPUS[0]["text"], "--json").stdout)["hits"][0]["id"] == "1"
    assert "- notes: 5 rows" in run("describe").stdout
    monkeypatch.delenv("TASKVEC_DEFAULT_COLLECTION")
    assert "Pass --collection NAME (or set TASKVEC_DEFAULT_COLLECTION)" in run("search", "x", ok=False).stderr


def test_index_progress_moves_from_the_first_batch(run, monkeypatch, corpus: Path) -> None:  # noqa: F811
    monkeypatch.setattr(service_module, "ENCODE_STEP", 2)
    err = run("index", str(corpus), "-c", "demo").stderr
    frames = [frame.strip() for frame in err.split("\r") if "index demo" in frame]
    loading = next(i for i, f in enumerate(frames) if "loading the model" in f)
    first = next(i for i, f in enumerate(frames) if " 2/5 " in f and "encoded 2 rows of 2/5 documents" in f)
    assert loading < first and " 0/5 " in frames[loading]  # the bar is up while the model loads, then moves
    writing = next(i for i, f in enumerate(frames) if "writing 5 rows into 'demo'" in f)
    assert first < writing and " 5/5 " in frames[-1] and "wrote 5 rows" in frames[-1]  # the commit ends the bar


def test_a_bad_config_file_says_where_and_other_concerns_still_work(run, monkeypatch, tmp_path: Path) -> None:  # noqa: F811
    config = tmp_path / "taskvec.toml"  # the fixture runs every command in tmp_path
    config.write_text("store = [\n")
    broken = run("collections", ok=False).stderr
    assert broken.count("\n") == 1 and f"{config} is not valid TOML" in broken and "TASKVEC_CONFIG" in broken
    config.write_text('stor = "/elsewhere"\n')
    misspelt = run("collections", ok=False).stderr
    assert "sets 'stor', which is not a taskvec setting" in misspelt and "Did you mean 'store'?" in misspelt
    config.write_text('port = "eighty"\n')
    assert run("collections").stdout.startswith("store ")  # a server setting does not stop a store command
    serve = run("serve", "--transport", "sse", ok=False).stderr
    assert f"'port' in {config}: Input should be a valid integer" in serve and "Fix:" in serve


def test_ctrl_c_while_the_model_loads_is_one_line_below_the_bar_and_exit_130(env, tmp_path: Path) -> None:  # noqa: F811
    """The earliest Ctrl-C of `taskvec index`: while torch and the model load, before any step (the write itself
    is test_write_safety.py's). One line under the progress bar, exit 130, no traceback, no store created."""
    corpus = tmp_path / "many.jsonl"
    corpus.write_text("\n".join(json.dumps({"id": str(i), "text": f"note number {i}"}) for i in range(2000)))
    process = subprocess.Popen(
        [sys.executable, "-m", "taskvec.cli", "index", str(corpus), "-c", "demo"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=default_sigint,
    )
    assert process.stderr is not None
    seen = b""
    while b"loading the model" not in seen:
        chunk = process.stderr.read1(4096)
        assert chunk, f"the run ended before loading: {seen.decode(errors='replace')[-1000:]}"
        seen += chunk
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    text = (seen + err).decode(errors="replace")
    assert process.returncode == 130 and out == b"", text[-2000:]
    assert "Traceback" not in text and "terminate called" not in text
    (line,) = below_the_bar(text, "index demo")  # exactly one line under the bar
    assert line.startswith("taskvec: ") and ("stopped" in line or "nothing was written" in line), text[-2000:]
    assert not Path(env["TASKVEC_STORE"]).exists()
