"""The examples work: the agent session runs end to end over stdio, and the client configurations are well formed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import CALL_TIMEOUT, STARTUP_TIMEOUT, server_env

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_agent_session_runs_against_the_tiny_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    env = server_env(tiny_model_dir, tmp_path / "unused")  # the script sets TASKVEC_STORE from --store
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / "agent_session.py"), "--store", str(tmp_path / "store")],
        env=env,
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT + 5 * CALL_TIMEOUT,
    )
    out = run.stdout
    assert run.returncode == 0, f"exit {run.returncode}\n--- stdout\n{out}\n--- stderr\n{run.stderr[-3000:]}"
    assert "answers checked: no" in out  # a random model: answers are printed, not judged
    for step in ("1. Index", "2. Search", "3. Search", "4. Follow", "5. Classify"):
        assert f"\n{step}" in out, f"missing step {step!r}:\n{out}"
    refusal = out.split("The error the agent reads:", 1)[1]
    assert "Refused: collection 'handbook'" in refusal
    assert "task='retrieval'" in refusal and "index the collection again with task='similarity'" in refusal
    assert "'handbook' now holds: retrieval (12 rows), similarity (12 rows)" in out
    assert "Done: every step behaved as expected (answers shown, not checked)." in out
    assert (tmp_path / "store" / "handbook.lance").is_dir()  # --store is used, and kept


def test_claude_desktop_config_starts_the_stdio_server() -> None:
    config = json.loads((EXAMPLES / "claude_desktop_config.json").read_text())
    server = config["mcpServers"]["taskvec"]
    assert Path(server["command"]).name == "taskvec" and Path(server["command"]).is_absolute()
    assert server["args"] == ["serve"] and "TASKVEC_STORE" in server["env"]


def test_vscode_config_has_a_stdio_server_and_an_http_one_with_the_token() -> None:
    config = json.loads((EXAMPLES / "vscode_mcp.json").read_text())
    stdio, http = config["servers"]["taskvec"], config["servers"]["taskvec-http"]
    assert stdio["type"] == "stdio" and stdio["command"].endswith("/taskvec") and stdio["args"] == ["serve"]
    assert http["type"] == "http" and http["url"] == "http://127.0.0.1:8765/mcp"
    (token_input,) = config["inputs"]
    assert token_input["password"] is True
    assert http["headers"]["Authorization"] == f"Bearer ${{input:{token_input['id']}}}"
