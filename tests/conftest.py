"""Shared fixtures. Fast tests use a tiny random BERT saved with the real all-MiniLM-L6-v2 tokenizer."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def make_tiny_bert(folder: Path, *, pooling: str = "mean", normalize: bool = True, seed: int = 0) -> Path:
    """Save a 2-layer random BERT (hidden 32) with the real tokenizer and sentence-transformers files."""
    from model_families import save_tiny_bert, write_sentence_transformers_files

    save_tiny_bert(folder, seed)
    write_sentence_transformers_files(folder, pooling, normalize=normalize)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT folder (mean pooling, normalized, max_seq_length 64)."""
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


# The shared encoders run in fp32 on every machine: tests of exactness (sentence-transformers' vectors, batching
# and order that change nothing) hold there bit for bit. dtype="auto" picks bf16 on CPUs that have it, which keeps
# vectors only within bf16 rounding of these; tests/test_precision.py covers that path.
@pytest.fixture(scope="session")
def tiny_encoder(tiny_model_dir: Path):
    from taskvec.engine import Encoder

    return Encoder(tiny_model_dir, device="cpu", dtype="fp32")


@pytest.fixture(scope="session")
def real_encoder():
    """The bundled all-MiniLM-L6-v2 with its shipped adapters (loaded once per test session), in fp32."""
    from taskvec.engine import Encoder

    return Encoder(device="cpu", dtype="fp32")


@pytest.fixture()
def copy_of(tmp_path: Path):
    def _copy(src: Path) -> Path:
        dst = tmp_path / src.name
        shutil.copytree(src, dst)
        return dst

    return _copy


@pytest.fixture()
def tiny_service(tiny_encoder, tmp_path: Path):
    """A TaskvecService over the tiny encoder and an empty store under tmp_path (64 documents per call at most)."""
    from taskvec.service import TaskvecService
    from taskvec.store import DocumentLimits, Store

    return TaskvecService(tiny_encoder, Store(tmp_path / "store"), limits=DocumentLimits(max_documents=64))


# ------------------------------------------------------------------------------------------ object storage
@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A local S3-compatible server (moto) on 127.0.0.1 for the session, with the environment LanceDB reads
    (AWS_ENDPOINT_URL, AWS_ALLOW_HTTP, credentials, region) pointing at it."""
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise AssertionError("the local S3 server (moto) did not start") from None
            time.sleep(0.1)
    saved = {k: os.environ.get(k) for k in S3_ENVIRONMENT}
    os.environ.update({**S3_ENVIRONMENT, "AWS_ENDPOINT_URL": endpoint})
    try:
        yield endpoint
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.terminate()
        server.wait(timeout=30)


S3_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ALLOW_HTTP": "true",
    "AWS_ENDPOINT_URL": "",
}


def new_bucket(endpoint: str) -> str:
    import uuid

    import boto3

    name = f"taskvec-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["local", "s3"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's store lives: a local folder, or a fresh bucket on the local S3 server."""
    if request.param == "local":
        return str(tmp_path / "db")
    endpoint = request.getfixturevalue("s3_endpoint")
    return f"s3://{new_bucket(endpoint)}/db"
