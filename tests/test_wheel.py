"""The built wheel, installed away from the source tree: what `pip install taskvec` gives a user.

The test suite otherwise runs on an editable install, which hides a package or data file the wheel leaves out
(the wheel once lacked ``taskvec.analysis``, so the server could not import its service). Here the wheel is built,
installed into a fresh virtual environment whose only other packages are this environment's dependencies (through
a ``.pth`` line: the editable install's finder is not among them), and run from a folder with no source in it.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from helpers import CALL_TIMEOUT, STARTUP_TIMEOUT, index_and_search, server_env
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; returns its bin folder."""
    root = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(root), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = root.glob("taskvec-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    (purelib,) = (venv / "lib").glob("python*/site-packages")
    (purelib / "taskvec-deps.pth").write_text(site.getsitepackages()[0] + "\n")
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return venv / "bin"


def test_the_wheel_imports_every_package_from_itself(installed: Path, tmp_path: Path) -> None:
    code = (
        "import pkgutil, taskvec; "
        "mods = [m.name for m in pkgutil.walk_packages(taskvec.__path__, 'taskvec.') if '__main__' not in m.name]; "
        "[__import__(m) for m in mods]; print(taskvec.__file__); print(len(mods))"
    )
    out = subprocess.run(
        [str(installed / "python"), "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    location, count = out.stdout.split()
    assert str(installed.parent) in location and int(count) > 40  # the wheel's copy, not the source tree


def test_the_wheel_lists_tasks_with_its_shipped_adapters(installed: Path, tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TASKVEC_STORE": str(tmp_path / "store")}
    env.pop("TASKVEC_MODEL", None)
    out = subprocess.run(
        [str(installed / "taskvec"), "tasks"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    from taskvec.engine.profiles import profile_for

    # Each task runs what the ship rule let through (its status and reason are listed); a shipped adapter that
    # runs loads from the wheel's own copy.
    verdicts = profile_for("sentence-transformers/all-MiniLM-L6-v2").verdicts
    from taskvec.engine.tasks import BUILTIN_TASKS

    for task, kind in BUILTIN_TASKS.items():
        block = out.stdout.split(f"- {task} [{kind}]")[1].split("\n- ")[0]
        status = verdicts[task].status
        assert f"runs: {status} - " in block, block
        if task in verdicts and verdicts[task].adapter:
            assert f"adapter: all-MiniLM-L6-v2/{task} (shipped)" in block, block  # the wheel's own copy
        else:
            assert "adapter: none" in block, block


async def test_the_wheel_serves_mcp_over_stdio(installed: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=str(installed / "taskvec"),
        args=["serve"],
        env=server_env(tiny_model_dir, tmp_path / "store"),
        cwd=str(tmp_path),
    )
    with anyio.fail_after(STARTUP_TIMEOUT + 2 * CALL_TIMEOUT):
        async with Client(stdio_client(params), mode="legacy", read_timeout_seconds=STARTUP_TIMEOUT) as client:
            await index_and_search(client, "wheel")
