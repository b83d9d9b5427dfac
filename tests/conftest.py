"""Shared fixtures: real Chroma (a temp folder, or a `chroma run` server on localhost),
the real packaged model, real files."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from index import Settings

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "putins-new-eastward-pivot.txt"
os.environ["ANONYMIZED_TELEMETRY"] = "False"
# A settings file of the person running the tests must not change them: point at none.
os.environ["QA_CONFIG"] = os.path.join(tempfile.mkdtemp(prefix="qa-tests-"), "no-config.toml")


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """The ONNX export is made once per test session (or reused from QA_MODEL_CACHE_DIR)."""
    from index.embedding import PRECISIONS, make_onnx

    cached = os.environ.get("QA_MODEL_CACHE_DIR")
    folder = Path(cached) if cached else tmp_path_factory.mktemp("models")
    for precision in PRECISIONS:
        make_onnx(folder, precision)
    return folder


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    """A real Chroma server on localhost, started for the session."""
    chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    port = _free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    log = open(path / "server.log", "wb")
    proc = subprocess.Popen(
        [chroma, "run", "--path", str(path / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    import urllib.request

    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1)
            break
        except Exception:
            if proc.poll() is not None:
                raise RuntimeError((path / "server.log").read_text())
            time.sleep(0.3)
    else:
        proc.kill()
        raise RuntimeError("chroma server did not start")
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(params=["embedded", "server"])
def store_kind(request):
    return request.param


@pytest.fixture
def make_settings(tmp_path, model_cache, store_kind, request):
    """Settings for a fresh store of the parametrised kind; call again for another one."""

    def make(name: str | None = None, **extra) -> Settings:
        collection = name or f"t{uuid.uuid4().hex[:10]}"
        data_dir = tmp_path / f"data-{collection}"
        url = request.getfixturevalue("chroma_server") if store_kind == "server" else None
        return Settings(
            data_dir=data_dir,
            model_cache_dir=model_cache,
            chroma_url=url,
            collection=collection,
            **extra,
        )

    return make


@pytest.fixture
def embedded_settings(tmp_path, model_cache) -> Settings:
    return Settings(data_dir=tmp_path / "data", model_cache_dir=model_cache)


def cli_env(settings: Settings, **extra) -> dict:
    env = {
        **os.environ,
        "QA_HOME": str(settings.data_dir),
        "QA_MODEL_CACHE_DIR": str(settings.model_cache_dir),
        "QA_COLLECTION": settings.collection,
        "ANONYMIZED_TELEMETRY": "False",
    }
    env.pop("QA_CHROMA_URL", None)
    if settings.chroma_url:
        env["QA_CHROMA_URL"] = settings.chroma_url
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)  # None: leave this variable unset
        else:
            env[key] = value
    return env


def run_qa(args: list[str], settings: Settings, timeout: float = 300, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qa.cli", *args],
        env=cli_env(settings, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


# -- a corpus of real article files, built from the seed article's sentences -----------


def seed_sentences() -> list[str]:
    from index.chunking import sentence_spans

    text = SEED.read_text(encoding="utf-8")
    return [text[s:e] for s, e in sentence_spans(text) if len(text[s:e]) > 40]


def write_corpus(folder: Path, count: int = 8, offset: int = 0) -> dict[str, Path]:
    """``count`` short .txt articles (2-4 sentences each), deterministic content."""
    sentences = seed_sentences()
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for n in range(offset, offset + count):
        picked = [sentences[(n * 3 + k) % len(sentences)] for k in range(2 + n % 3)]
        body = " ".join(picked)
        path = folder / f"article-{n:03d}.txt"
        path.write_text(f"Report number {n} on Russia and Asia\n\nJune {1 + n % 28}, 2022\n\n{body}\n", encoding="utf-8")
        files[path.name] = path
    return files


@pytest.fixture
def seeded_settings(embedded_settings) -> Settings:
    """An embedded store holding the seed article."""
    from index import Index

    Index.open(settings=embedded_settings).sync([SEED.parent])
    return embedded_settings
