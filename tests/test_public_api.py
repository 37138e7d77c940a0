"""The public surface: what `import taskvec` offers, what it costs to import, and README's Python examples."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import taskvec
from taskvec import errors

README = Path(__file__).resolve().parents[1] / "README.md"

# Changing the public surface is a decision: update this list in the same commit, and say why.
PUBLIC = {
    "CallControl", "ClassifyResult", "ClusterResult", "CollectionDescription", "CollectionList", "DataError",
    "DeleteResult", "Document", "DocumentLimits", "DocumentsResult", "DropResult", "EmbeddingSpace", "EncodeResult", "Encoder", "IndexResult",
    "Interrupted", "InvalidInputError", "ModelLoadError", "SearchHit", "SearchResult", "Settings",
    "SpaceMismatchError", "Store", "StoreBusyError", "StoreUnavailableError", "StoredDocument", "Task", "TaskList", "TaskRegistry", "TaskvecError",
    "TaskvecService", "UnknownCollectionError", "UnknownTaskError", "__version__", "build_service",
}  # fmt: skip


def test_the_public_names_are_exactly_these() -> None:
    assert set(taskvec.__all__) == PUBLIC
    for name in taskvec.__all__:
        assert getattr(taskvec, name) is not None
    with pytest.raises(AttributeError):
        taskvec.NotAThing  # noqa: B018


def test_importing_taskvec_loads_no_heavy_layer() -> None:
    code = "import sys, taskvec; print(sorted({'torch', 'lancedb', 'mcp', 'transformers'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_error_is_in_the_tree_with_its_exit_code() -> None:
    exported = [getattr(taskvec, n) for n in taskvec.__all__ if n.endswith("Error") or n == "Interrupted"]
    assert all(issubclass(e, errors.TaskvecError) for e in exported)
    codes = {e.__name__: e.exit_code for e in exported}
    assert codes["StoreBusyError"] == 75 and codes["Interrupted"] == 130 and codes["StoreUnavailableError"] == 69
    assert {c for n, c in codes.items() if n not in ("StoreBusyError", "Interrupted", "StoreUnavailableError")} == {2}
    documented = (Path(errors.__file__).read_text()).split('"""')[1]
    for name, code in codes.items():  # the docstring's tree says the same
        assert re.search(rf"{name}\s+{code}\b", documented), name


def python_examples() -> list[str]:
    section = README.read_text().split("## Use it from Python", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


@pytest.mark.real_model
@pytest.mark.parametrize("number", range(2))
def test_readme_python_examples_run(number: int, tmp_path: Path) -> None:
    examples = python_examples()
    assert len(examples) == 2
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKVEC_")}
    out = subprocess.run(
        [sys.executable, "-c", examples[number]],
        cwd=tmp_path,
        env={**env, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    if number == 0:
        shape_line = out.stdout.splitlines()[-1]
        assert shape_line.startswith("(384,) (2, 384)")
        scores = [float(x) for x in re.findall(r"-?\d\.\d+", shape_line.split(")")[-1])]
        assert scores[0] > scores[1]  # the vitamin D passage is nearer the question than the football one
    else:
        assert out.stdout.startswith("d1 ") and "refused: " in out.stdout and "task='retrieval'" in out.stdout
