"""The held-out panel (``taskvec eval panel``), its paired bootstrap, the ship rule, and the registry's verdicts:
on the tiny random BERT over a synthetic panel written by the test, and on the shipped adapters' records."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import make_random_adapter
from panel_files import make_panel

from taskvec.eval import bootstrap, cli
from taskvec.eval.datasets import LOADERS
from taskvec.eval.panel import REPO_PANEL, prompt_panel_record, read_manifest
from taskvec.eval.ship import decide

REPO = Path(__file__).resolve().parents[1]
KINDS = ("retrieval", "similarity", "classification", "clustering", "code")
BUILTIN = (*KINDS, "sentiment")  # the built-in tasks: one per kind, and sentiment with a panel of its own


@pytest.fixture(scope="module")
def panel_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_panel(tmp_path_factory.mktemp("panel"))


@pytest.fixture(scope="module")
def adapter(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_random_adapter(tiny_model_dir, tmp_path_factory.mktemp("adapter") / "random", seed=5)


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKVEC_CHECKS_CACHE", str(tmp_path / "cache"))


# ------------------------------------------------------------------------------------------------- the CLI
@pytest.mark.parametrize("kind", BUILTIN)
def test_panel_cli_scores_three_modes_with_noise_and_a_verdict(kind, panel_root, adapter, tiny_model_dir, capsys):
    argv = ["panel", "--task", kind, "--adapter", str(adapter), "--panel-root", str(panel_root)]
    argv += ["--model", str(tiny_model_dir), "--query-prompt", "topic: ", "--sample", "8", "--rounds", "40", "--json"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    expected = {s.name for s in read_manifest(panel_root) if s.kind == kind}
    assert set(result["sets"]) == expected and result["sample"] == 8 and result["query_prompt"] == "topic: "
    for name, row in result["sets"].items():
        assert {"base", "prompt", "adapter", "spread", "units"} <= set(row), name
        for mode in ("prompt", "adapter"):
            c = row[f"{mode}_vs_base"]
            assert c["noise"] >= 0 and c["verdict"] in ("up", "level", "down")
            assert c["change"] == pytest.approx(row[mode] - row["base"], abs=2e-5)
    decision = result["decision"]
    assert decision["provisional"] and "provisional" in decision["why"]
    assert decision["status"] in ("adapter", "prompt", "bare")
    assert "ship rule:" in out and "SAMPLE of 8" in out


def test_panel_against_reads_one_adapter_against_another_on_the_same_draws(
    panel_root, adapter, tiny_model_dir, tmp_path, capsys
):
    """`--against DIR`: a second adapter in the same bootstrap; each row reads the adapter against it. Against
    itself the change is exactly nothing; against another it is the difference of their figures, with noise."""
    other = make_random_adapter(tiny_model_dir, tmp_path / "other", seed=6)
    base = ["panel", "--task", "classification", "--adapter", str(adapter), "--panel-root", str(panel_root)]
    base += ["--model", str(tiny_model_dir), "--rounds", "40", "--json"]
    assert cli.main([*base, "--against", str(adapter)]) == 0
    same = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for row in same["sets"].values():
        assert row["against"] == row["adapter"]
        assert row["adapter_vs_against"] == {"change": 0.0, "noise": 0.0, "verdict": "level"}
    assert cli.main([*base, "--against", str(other)]) == 0
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["against"] == str(other) and f"--against {other}" in result["command"]
    assert "adapter vs against" in out
    for name, row in result["sets"].items():
        c = row["adapter_vs_against"]
        assert c["change"] == pytest.approx(row["adapter"] - row["against"], abs=2e-5), name
        assert c["noise"] > 0 and c["verdict"] in ("up", "level", "down")
        assert row["against_vs_base"]["change"] == pytest.approx(row["against"] - row["base"], abs=2e-5)
    assert result["decision"] == same["decision"]  # the ship rule reads the adapter against the bare model only
    retrieval = [*base[:2], "retrieval", *base[3:], "--against", str(other)]
    for extra in (["--card"], ["--mode", "hybrid"], ["--rerank", str(other)]):
        assert cli.main([*retrieval, *extra]) == 2
        assert "--against" in capsys.readouterr().err


def test_panel_without_prompt_scores_base_and_prompt_once(panel_root, tiny_model_dir, capsys):
    """An empty prompt encodes as the base model: the two modes are one measurement, level with no noise."""
    argv = ["panel", "--task", "similarity", "--adapter", "none", "--panel-root", str(panel_root)]
    assert cli.main([*argv, "--model", str(tiny_model_dir), "--rounds", "20", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for row in result["sets"].values():
        assert row["prompt"] == row["base"] and "adapter_vs_base" not in row
        assert row["prompt_vs_base"] == {"change": 0.0, "noise": 0.0, "verdict": "level"}
    assert result["decision"] == {
        "status": "bare",
        "adapter": False,
        "prompt": False,
        "why": "no adapter; no prompt",
        "provisional": False,
    }


def test_panel_refuses_a_folder_without_manifest_and_names_missing_sets(panel_root, tiny_model_dir, tmp_path, capsys):
    base = ["panel", "--task", "clustering", "--adapter", "none", "--model", str(tiny_model_dir)]
    assert cli.main([*base, "--panel-root", str(tmp_path)]) == 2
    assert "panel.json" in capsys.readouterr().err
    partial = tmp_path / "partial"
    shutil.copytree(panel_root, partial)
    shutil.rmtree(partial / "toy-clustering")
    assert cli.main([*base, "--panel-root", str(partial)]) == 2
    err = capsys.readouterr().err
    assert "toy-clustering" in err and "build.py" in err


def test_panel_on_some_sets_decides_nothing(panel_root, tiny_model_dir, capsys):
    argv = ["panel", "--task", "similarity", "--adapter", "none", "--panel-root", str(panel_root), "--json"]
    assert cli.main([*argv, "--model", str(tiny_model_dir), "--rounds", "20", "--sets", "toy-pairs"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    assert set(result["sets"]) == {"toy-pairs"} and result["left_out"] == ["toy-similarity"]
    assert result["decision"]["provisional"] and "toy-similarity left out" in result["decision"]["why"]
    assert "LEFT OUT toy-similarity" in out and "--sets toy-pairs" in result["command"]
    assert cli.main([*argv, "--model", str(tiny_model_dir), "--sets", "toy-clustering"]) == 2
    err = capsys.readouterr().err
    assert "toy-clustering: not similarity sets" in err and "toy-pairs" in err


def _ci_checkout(tmp_path: Path) -> Path:
    """The repository's panel as a fresh checkout has it: the manifest, every SOURCE.md, the committed sets only."""
    root = tmp_path / "checkout-panel"
    root.mkdir()
    shutil.copy(REPO_PANEL / "panel.json", root)
    for ps in read_manifest(REPO_PANEL):
        if ps.committed:
            (root / ps.name).symlink_to(REPO_PANEL / ps.name)
        else:  # git keeps the folder of a set rebuilt outside it, with its SOURCE.md alone
            (root / ps.name).mkdir()
            shutil.copy(REPO_PANEL / ps.name / "SOURCE.md", root / ps.name)
    return root


@pytest.mark.slow  # about 25 s per kind on 2 cores: the bundled model encodes each sample in two or three modes
@pytest.mark.parametrize("kind", BUILTIN)
def test_the_real_panel_runs_in_ci_on_a_sample_of_its_committed_sets(kind, tmp_path, capsys):
    """`taskvec eval panel` with the bundled model and the shipped adapter on the committed sets (a small sample);
    the sets rebuilt outside git are named with the command that rebuilds them, not a crash and not a fetch."""
    root = _ci_checkout(tmp_path)
    manifest = [s for s in read_manifest(REPO_PANEL) if s.kind == kind]
    committed = [s.name for s in manifest if s.committed]
    absent = [s.name for s in manifest if not s.committed]
    assert committed and absent  # every kind has both, so both paths below run
    argv = ["panel", "--task", kind, "--panel-root", str(root)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"python data/panel/build.py --mirrors MIRRORS --out {root} --sets {' '.join(absent)}" in err
    assert f"--sets {' '.join(committed)}" in err and "Traceback" not in err
    assert cli.main([*argv, "--sets", *committed, "--sample", "12", "--rounds", "50", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["model"].endswith("all-MiniLM-L6-v2") and set(result["sets"]) == set(committed)
    assert result["left_out"] == absent and result["decision"]["provisional"]
    # a task with a shipped adapter reads it; code and classification ship none, so their panels read the
    # profile's prompts alone (code's are "query: " / "code: ", classification's none)
    mode = "adapter" if kind not in ("code", "classification") else "prompt"
    if mode == "prompt":
        assert result["adapter"] is None
        assert (result["query_prompt"], result["document_prompt"]) == {"code": ("query: ", "code: ")}.get(
            kind, ("", "")
        )
    else:
        assert result["adapter"].endswith(f"all-MiniLM-L6-v2/{kind}")
    for row in result["sets"].values():
        assert 0 < row["base"] <= 1 and row[f"{mode}_vs_base"]["verdict"] in ("up", "level", "down")


def test_panel_card_records_figures_and_decision(panel_root, adapter, tiny_model_dir, tmp_path, capsys):
    from taskvec.train.model_card import INFO_FILE

    folder = tmp_path / "carded"
    shutil.copytree(adapter, folder)
    info = json.loads((REPO / "adapters/all-MiniLM-L6-v2/clustering" / INFO_FILE).read_text())
    info.pop("panel", None)
    (folder / INFO_FILE).write_text(json.dumps(info))
    argv = ["panel", "--task", "clustering", "--adapter", str(folder), "--panel-root", str(panel_root)]
    assert cli.main([*argv, "--model", str(tiny_model_dir), "--rounds", "20", "--card"]) == 0
    recorded = json.loads((folder / INFO_FILE).read_text())["panel"]
    assert set(recorded["sets"]) == {"toy-clustering"} and recorded["command"].startswith("taskvec eval panel")
    card = (folder / "README.md").read_text()
    assert "## Held-out panel and ship rule" in card and "toy-clustering (synthetic clustering)" in card
    assert f"Ship rule (taskvec.eval.ship): **{recorded['decision']['status']}**" in card


def test_training_ends_without_a_verdict_when_panel_sets_are_absent(panel_root, adapter, tmp_path):
    from taskvec.train.model_card import INFO_FILE
    from taskvec.train.ship_rule import end_with_panel

    folder = tmp_path / "trained"
    shutil.copytree(adapter, folder)
    info = json.loads((REPO / "adapters/all-MiniLM-L6-v2/clustering" / INFO_FILE).read_text())
    info.pop("panel", None)
    (folder / INFO_FILE).write_text(json.dumps(info))
    partial = tmp_path / "partial"
    shutil.copytree(panel_root, partial)
    shutil.rmtree(partial / "toy-clustering")
    said: list[str] = []
    assert end_with_panel(folder, panel_root=partial, log=said.append) is None
    assert f"build.py --mirrors MIRRORS --out {partial} --sets toy-clustering" in said[0]
    assert "not registered" in said[0] and "panel" not in json.loads((folder / INFO_FILE).read_text())


def test_training_scores_the_sets_present_and_registers_nothing_when_some_are_absent(
    panel_root, adapter, tiny_model_dir, tmp_path
):
    """A fresh checkout holds a rebuilt-outside-git set's folder with its SOURCE.md alone: the end of training
    judges the sets that are there, records that provisionally, and says which set to rebuild."""
    from taskvec.engine.profiles import panel_passes
    from taskvec.train.model_card import INFO_FILE
    from taskvec.train.ship_rule import end_with_panel

    folder = tmp_path / "trained"
    shutil.copytree(adapter, folder)
    info = json.loads((REPO / "adapters/all-MiniLM-L6-v2/similarity" / INFO_FILE).read_text())
    info.pop("panel", None)
    info["hyperparameters"]["model"], info["hyperparameters"]["tasks_file"] = str(tiny_model_dir), None
    (folder / INFO_FILE).write_text(json.dumps(info))
    partial = tmp_path / "partial"
    shutil.copytree(panel_root, partial)
    for data in (partial / "toy-pairs").iterdir():
        data.unlink()
    (partial / "toy-pairs" / "SOURCE.md").write_text("# toy-pairs\nRebuilt outside git.\n")
    said: list[str] = []
    result = end_with_panel(folder, panel_root=partial, log=said.append)
    assert result is not None and set(result["sets"]) == {"toy-similarity"} and result["left_out"] == ["toy-pairs"]
    assert "--sets toy-pairs" in said[0] and "decides nothing" in said[0]
    assert result["decision"]["provisional"] and "--sets toy-similarity" in result["command"]
    assert json.loads((folder / INFO_FILE).read_text())["panel"]["left_out"] == ["toy-pairs"]
    assert not panel_passes(folder) and said[-1].startswith("ship rule: not a default")


def test_a_sentiment_adapter_ends_its_training_on_the_sentiment_panel(panel_root, adapter, tiny_model_dir, tmp_path):
    """`taskvec train --task sentiment` trains a classification-kind adapter and judges it on sentiment's own panel,
    not on the classification panel its kind has."""
    from taskvec.train.model_card import INFO_FILE
    from taskvec.train.ship_rule import end_with_panel

    folder = tmp_path / "trained"
    shutil.copytree(adapter, folder)
    info = json.loads((REPO / "adapters/all-MiniLM-L6-v2/sentiment" / INFO_FILE).read_text())
    assert (info["task"], info["kind"]) == ("sentiment", "classification")
    info.pop("panel", None)
    info.pop("earlier_panels", None)
    info["hyperparameters"]["model"], info["hyperparameters"]["tasks_file"] = str(tiny_model_dir), None
    (folder / INFO_FILE).write_text(json.dumps(info))
    result = end_with_panel(folder, panel_root=panel_root, sample=8, log=lambda line: None)
    assert result is not None and set(result["sets"]) == {"toy-sentiment"} and result["panel"] == "sentiment"
    assert "--task sentiment" in result["command"] and not result["left_out"]


# ------------------------------------------------------------------------------------------- the bootstrap
def test_paired_bootstrap_tells_a_shift_from_noise():
    rng = np.random.default_rng(0)
    base_values = rng.uniform(0, 1, 300)
    base = bootstrap.MeanOfUnits(base_values)
    cases = {
        "up": bootstrap.MeanOfUnits(base_values + 0.01),
        "down": bootstrap.MeanOfUnits(base_values - 0.01),
        "level": bootstrap.MeanOfUnits(base_values + rng.normal(0, 0.05, 300) - 0.001),
    }
    draws = bootstrap.paired_bootstrap({"base": base, "same": base, **cases}, rounds=300)
    assert np.array_equal(draws["same"], draws["base"])
    for expected, measure in cases.items():
        change = measure.score() - base.score()
        noise = bootstrap.Z95 * float(np.std(draws[expected] - draws["base"]))
        assert bootstrap.verdict(change, noise) == expected, (expected, change, noise)
    # Paired: the noise of a constant shift is nil although each figure's own spread is not.
    assert np.std(draws["up"] - draws["base"]) < 1e-12 < np.std(draws["base"])


def test_v_measure_and_accuracy_on_resamples_match_their_plain_definitions():
    from sklearn.metrics import v_measure_score

    rng = np.random.default_rng(1)
    labels = rng.choice(["a", "b", "c"], 200)
    clusters = rng.integers(0, 4, (3, 200))
    measure = bootstrap.VMeasure(clusters, labels)
    assert measure.score() == pytest.approx(np.mean([v_measure_score(labels, c) for c in clusters]))
    units, seeds = rng.integers(0, 200, 200), np.array([2, 2, 0])
    expected = np.mean([v_measure_score(labels[units], clusters[s][units]) for s in seeds])
    assert measure.score(bootstrap.Resample(units, seeds)) == pytest.approx(expected)
    correct = rng.integers(0, 2, (4, 50))
    accuracy = bootstrap.Accuracy(correct)
    rows, cols = np.array([0, 0, 3, 1]), rng.integers(0, 50, 50)
    assert accuracy.score(bootstrap.Resample(cols, rows)) == pytest.approx(correct[rows][:, cols].mean())


# ------------------------------------------------------------------------------------------- the ship rule
def _result(prompt: str, prompt_verdicts: list[str], adapter_verdicts: list[str] | None) -> dict:
    sets = {}
    for i, pv in enumerate(prompt_verdicts):
        row = {"prompt_vs_base": {"change": -0.02 if pv == "down" else 0.0, "noise": 0.01, "verdict": pv}}
        if adapter_verdicts is not None:
            av = adapter_verdicts[i]
            row["adapter_vs_base"] = {"change": -0.02 if av == "down" else 0.02, "noise": 0.01, "verdict": av}
        sets[f"set{i}"] = row
    adapter = None if adapter_verdicts is None else "adapters/x"
    return {"query_prompt": prompt, "document_prompt": prompt, "adapter": adapter, "sample": None, "sets": sets}


@pytest.mark.parametrize(
    ("prompt", "prompt_verdicts", "adapter_verdicts", "status", "runs_adapter", "runs_prompt"),
    [
        ("topic: ", ["level", "down"], ["up", "level"], "adapter", True, True),  # the pair passes as trained
        ("topic: ", ["level", "level"], ["up", "down"], "prompt", False, True),
        ("topic: ", ["up", "down"], ["level", "down"], "bare", False, False),
        ("", ["level", "level"], ["level", "up"], "adapter", True, False),
        ("", ["level", "level"], ["down", "up"], "bare", False, False),
        ("topic: ", ["level", "up"], None, "prompt", False, True),
    ],
)
def test_ship_rule(prompt, prompt_verdicts, adapter_verdicts, status, runs_adapter, runs_prompt):
    decision = decide(_result(prompt, prompt_verdicts, adapter_verdicts))
    assert (decision["status"], decision["adapter"], decision["prompt"]) == (status, runs_adapter, runs_prompt)
    if "down" in (adapter_verdicts or []):
        assert "below the bare model on set" in decision["why"] and "-0.0200" in decision["why"]


# ------------------------------------------------------------------------------------ the registry's verdicts
def _profile_with(tmp_path: Path, adapter: Path, monkeypatch: pytest.MonkeyPatch, passes: bool, verdict):
    from taskvec.engine import profiles

    folder = tmp_path / "adapters" / "toy" / "clustering"
    shutil.copytree(adapter, folder)
    decision = {"status": "adapter", "adapter": passes, "prompt": True, "why": "test", "provisional": False}
    (folder / "taskvec_training.json").write_text(json.dumps({"panel": {"decision": decision}}))
    monkeypatch.setattr(profiles, "SHIPPED_ADAPTERS", tmp_path / "adapters")
    return profiles.ModelProfile(
        name="toy",
        match=("toy",),
        prompts={"clustering": ("topic: ", "topic: "), "retrieval": ("q: ", "d: ")},
        source="test",
        adapters_slug="toy",
        verdicts={"clustering": verdict, "retrieval": profiles.TaskVerdict(False, False, "prompt below base")},
    )


def test_registry_runs_an_adapter_only_where_verdict_and_recorded_panel_agree(adapter, tmp_path, monkeypatch):
    from taskvec.engine import TaskRegistry
    from taskvec.engine.profiles import TaskVerdict

    passing = TaskRegistry.from_profile(
        _profile_with(tmp_path / "a", adapter, monkeypatch, True, TaskVerdict(True, True, "ok"))
    )
    task = passing["clustering"]
    assert task.adapter is not None and task.status == "adapter" and task.query_prompt == "topic: "
    assert task.to_dict()["status"] == "adapter" and task.to_dict()["why"] == "ok"
    bare = passing["retrieval"]
    assert (bare.adapter, bare.query_prompt, bare.document_prompt, bare.status) == (None, "", "", "bare")
    assert passing["code"].status == "unchecked" and "no held-out panel verdict" in passing["code"].why

    failing = TaskRegistry.from_profile(
        _profile_with(tmp_path / "b", adapter, monkeypatch, False, TaskVerdict(True, True, "ok"))
    )
    assert failing["clustering"].adapter is None and "does not pass the ship rule" in failing["clustering"].why
    refused = TaskRegistry.from_profile(
        _profile_with(tmp_path / "c", adapter, monkeypatch, True, TaskVerdict(False, True, "adapter down"))
    )
    assert refused["clustering"].adapter is None and refused["clustering"].status == "prompt"
    assert refused["clustering"].query_prompt == "topic: " and refused["clustering"].why == "adapter down"


def test_every_minilm_task_says_what_it_runs_with_and_why():
    """What `taskvec tasks` and taskvec://tasks list: each built-in task's status and reason (the ship rule's)."""
    from taskvec.engine import TaskRegistry
    from taskvec.engine.profiles import profile_for

    profile = profile_for("sentence-transformers/all-MiniLM-L6-v2")
    registry = TaskRegistry.from_profile(profile)
    assert set(profile.verdicts) == set(BUILTIN)  # every built-in task has been through the ship rule
    for kind in profile.verdicts:
        task = registry[kind].to_dict()
        assert task["status"] == profile.verdicts[kind].status and task["why"] == profile.verdicts[kind].why
        assert (task["adapter"] is not None) == (task["status"] == "adapter")
        if task["status"] == "bare":
            assert task["query_prompt"] == task["document_prompt"] == ""


def test_readme_task_table_says_what_each_task_runs_with():
    from taskvec.engine import TaskRegistry
    from taskvec.engine.profiles import profile_for

    registry = TaskRegistry.from_profile(profile_for("sentence-transformers/all-MiniLM-L6-v2"))
    kinds = BUILTIN
    rows = [line for line in (REPO / "README.md").read_text().splitlines() if line.startswith("| `")]
    listed = {row.split("`")[1]: row.split("|")[4] for row in rows if row.split("`")[1] in kinds}
    assert set(listed) == set(kinds)
    for name, cell in listed.items():
        assert cell.strip().startswith(f"**{registry[name].status}**"), (name, cell)
        blend = registry[name].blend
        assert (f"blended with the bare model at share {blend}" in cell) == (blend is not None), (name, cell)
    # The fresh-machine paragraph names the tasks `make run` gets an adapter for.
    intro = (REPO / "README.md").read_text().split("## On a fresh machine", 1)[1].split("\n## ", 1)[0]
    lets_through = " ".join(intro.split("lets through (today ", 1)[1].split(":", 1)[0].split())
    named = {name for name in kinds if f"{name}'s" in lets_through}
    assert named == {name for name in kinds if registry[name].status == "adapter"}, lets_through


def test_each_built_in_task_has_its_panel_and_a_tasks_file_task_its_kinds():
    from taskvec.eval.panel import panel_name

    assert panel_name("sentiment", "classification") == "sentiment"
    assert panel_name("classification", "classification") == "classification"
    assert panel_name("moods", "classification") == "classification"  # a task of your own: its kind's panel
    assert panel_name("sentiment", "clustering") == "clustering"  # a tasks file that made sentiment another kind


def test_a_tasks_file_task_says_so(tiny_model_dir, tmp_path):
    from taskvec.engine import Encoder

    tasks_file = tmp_path / "tasks.toml"
    tasks_file.write_text('[tasks.tickets]\nkind = "classification"\nprompt = "ticket: "\n')
    task = Encoder(tiny_model_dir, tasks_file=tasks_file, device="cpu").tasks["tickets"]
    assert task.status == "custom" and "tasks file" in task.why and str(tmp_path) not in task.why


# ------------------------------------------------------------------------------ the shipped panel and verdicts
def test_shipped_verdicts_are_the_ship_rule_on_the_recorded_panels():
    """Every verdict in the MiniLM profile is what the ship rule decides on the panel its adapter's card records (for
    a task that ships no adapter, its prompt's panel in docs/results), read in full on every set of the task kind's
    panel; the registry runs exactly those adapters and prompts."""
    from taskvec.engine import TaskRegistry
    from taskvec.engine.profiles import profile_for

    profile = profile_for("sentence-transformers/all-MiniLM-L6-v2")
    registry = TaskRegistry.from_profile(profile)
    manifest = read_manifest(REPO_PANEL)
    assert set(profile.verdicts) == set(BUILTIN)
    for kind, verdict in profile.verdicts.items():  # kind: each built-in task (sentiment is one of its own)
        folder = profile.adapter_folder(kind)
        if folder is None:  # no adapter shipped: the prompt's panel, recorded with the repository's results
            info, card = {"panel": json.loads(prompt_panel_record(kind).read_text())}, None
            assert info["panel"]["adapter"] is None and not verdict.adapter, kind
            prompts = info["panel"]["query_prompt"], info["panel"]["document_prompt"]
            assert prompts == profile.task_prompts(kind, registry[kind].kind), kind  # as the profile proposes
        else:
            info = json.loads((folder / "taskvec_training.json").read_text())
            card = (folder / "README.md").read_text()
        panel = info["panel"]
        assert panel["sample"] is None and panel["rounds"] >= 1000 and not panel.get("left_out")
        assert set(panel["sets"]) == {s.name for s in manifest if s.kind == kind}
        decision = decide(panel)
        assert decision == panel["decision"]
        assert (verdict.adapter, verdict.prompt) == (decision["adapter"], decision["prompt"]), kind
        assert (registry[kind].adapter is not None) == verdict.adapter and registry[kind].status == decision["status"]
        assert verdict.blend == panel.get("blend") == registry[kind].blend, kind  # a pass holds for its share only
        if card is not None:
            assert "## Held-out panel and ship rule" in card and f"**{decision['status']}**" in card
            trained_on = [d["source"] for d in info["data"]] + info.get("anchor_data", []) + info.get("val_data", [])
            assert not any("panel" in source for source in trained_on)


def test_only_the_sets_marked_committed_are_let_into_git():
    """.gitignore keeps data/ out and lets in exactly the panel sets whose licence allows redistribution."""
    lines = (REPO / ".gitignore").read_text().splitlines()
    let_in = {line.split("/")[3] for line in lines if line.startswith("!/data/panel/") and line.endswith("/*")}
    assert let_in == {s.name for s in read_manifest(REPO_PANEL) if s.committed}
    assert "/data/*" in lines and "/data/panel/*/*" in lines and "!/data/panel/*/SOURCE.md" in lines
    for ps in read_manifest(REPO_PANEL):
        note = (REPO_PANEL / ps.name / "SOURCE.md").read_text()
        assert ("**Committed**" in note) == ps.committed and ("**Not committed**" in note) != ps.committed, ps.name
        if "non-commercial" in ps.licence.lower() or "none stated" in ps.licence:
            assert not ps.committed, ps.name


def test_docs_panel_figures_are_the_generated_ones():
    from taskvec.eval.panel import FIGURES_HEADING, figures_markdown

    page = (REPO / "docs" / "panel.md").read_text()
    assert page[page.index(FIGURES_HEADING) :] == figures_markdown(), "rerun: python -m taskvec.eval.panel"


def test_committed_panel_sets_load_and_every_set_has_a_source_note():
    for ps in read_manifest(REPO_PANEL):
        assert (REPO_PANEL / ps.name / "SOURCE.md").is_file(), ps.name
        if ps.committed:
            data = LOADERS[ps.layout](REPO_PANEL / ps.name)
            assert data is not None, ps.name
