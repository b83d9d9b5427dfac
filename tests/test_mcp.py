"""`qa mcp` as an agent uses it: the SDK's stdio client starts the server as a subprocess,
lists the tools, searches and asks the seed article, and gets tool errors for bad
arguments while the server goes on serving."""

from __future__ import annotations

import json
import sys

import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from index import Index
from tests.conftest import ROOT, SEED, cli_env


@pytest.fixture
def seeded(embedded_settings):
    Index.open(settings=embedded_settings).sync([SEED.parent])
    return embedded_settings


def server(settings, *args) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "qa.cli", "mcp", *args], env=cli_env(settings), cwd=str(ROOT)
    )


def data(result) -> dict:
    assert not result.is_error, result.content
    return result.structured_content or json.loads(result.content[0].text)


async def test_search_and_ask_the_seed_article_over_stdio(seeded):
    async with stdio_client(server(seeded)) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = {t.name for t in (await session.list_tools()).tools}
        assert tools == {"search", "ask", "get_article", "list_sources", "index_status"}  # read-only: no sync

        found = data(await session.call_tool("search", {"query": "Japan Sochi Kurile islands", "k": 3}))
        first = found["passages"][0]
        assert first["article_id"] == "putins-new-eastward-pivot.txt"
        span = data(await session.call_tool("get_article", {"id": first["article_id"], "start": first["start"], "end": first["end"]}))
        assert span["text"] == first["text"]

        answer = data(await session.call_tool("ask", {"question": "What does Japan expect from Sochi?"}))
        assert answer["answered"] and answer["citations"]
        for citation in answer["citations"]:
            article = data(await session.call_tool("get_article", {"id": citation["article_id"]}))
            assert article["text"][citation["start"]:citation["end"]] == citation["quote"]

        status = data(await session.call_tool("index_status", {}))
        assert status["articles"] == 1
        sources = data(await session.call_tool("list_sources", {}))
        assert sum(s["articles"] for s in sources["sources"]) == 1
        resource = await session.read_resource(first["uri"])
        whole = data(await session.call_tool("get_article", {"id": first["article_id"]}))
        assert resource.contents[0].text == whole["text"] and "Kurile" in whole["text"]


async def test_bad_arguments_are_tool_errors_and_the_server_keeps_serving(seeded):
    async with stdio_client(server(seeded)) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        for tool, args, words in (
            ("search", {"query": "  "}, "the query is empty"),
            ("search", {"query": "Japan", "k": 0}, "k must be between 1 and 100"),
            ("search", {"query": "Japan", "since": "last spring"}, "since"),
            ("ask", {"question": ""}, "the question is empty"),
            ("get_article", {"id": "no/such/article.txt"}, "no/such/article.txt"),
            ("get_article", {"id": "putins-new-eastward-pivot.txt", "start": 5, "end": 10**7}, "outside the article"),
        ):
            result = await session.call_tool(tool, args)
            assert result.is_error, (tool, args)
            message = result.content[0].text
            assert words in message and "\n" not in message and "Traceback" not in message, message
        assert data(await session.call_tool("search", {"query": "Japan", "k": 1}))["passages"]


async def test_allow_sync_adds_a_sync_tool(seeded, tmp_path):
    folder = tmp_path / "more"
    folder.mkdir()
    (folder / "note.txt").write_text("A note\n\nThe walrus delegation arrived in Sochi by ferry.\n")
    async with stdio_client(server(seeded, "--allow-sync")) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        assert "sync" in {t.name for t in (await session.list_tools()).tools}
        report = data(await session.call_tool("sync", {"paths": [str(folder)]}))
        assert report["added"] == 1
        found = data(await session.call_tool("search", {"query": "walrus delegation ferry", "k": 1}))
        assert found["passages"][0]["article_id"] == "note.txt"


async def test_streamable_http_on_localhost(seeded):
    import asyncio
    import socket
    import subprocess

    from mcp.client.streamable_http import streamable_http_client

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "qa.cli", "mcp", "--http", str(port)], env=cli_env(seeded), cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):  # the server listens once the index and models are loaded
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                await asyncio.sleep(0.1)
        url = f"http://127.0.0.1:{port}/mcp"
        async with streamable_http_client(url) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            found = data(await session.call_tool("search", {"query": "Japan Sochi", "k": 1}))
            assert found["passages"][0]["article_id"] == "putins-new-eastward-pivot.txt"
            assert (await session.call_tool("search", {"query": ""})).is_error
    finally:
        proc.terminate()
        proc.wait(30)
