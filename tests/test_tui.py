"""The chat app, driven with Pilot: ask, follow-up, sources, the article reader, cancel,
sync with progress, error notices, and article text that looks like markup."""

from __future__ import annotations


import pytest

from index import Index, Settings
from qa.assistant import Assistant
from qa.llm import make_llm
from qa.retrieval import Retriever
from tests import fake_openai
from tests.conftest import SEED, write_corpus
from tui.app import ChatApp
from tui.screens import ArticleScreen
from tui.widgets import AnswerMessage, CitationItem, StatusLine

SIZE = (100, 30)


def make_app(settings: Settings, llm=None, tmp_path=None) -> ChatApp:
    def load():
        return Assistant(Retriever(Index.open(settings=settings)), llm=make_llm(llm))

    return ChatApp(load, cursor_blink=False, export_dir=tmp_path)


async def ready(pilot) -> None:
    for _ in range(200):
        await pilot.pause(0.05)
        if pilot.app.assistant is not None or pilot.app._notifications:
            break
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def ask(pilot, question: str) -> AnswerMessage:
    await pilot.click("#prompt")
    for char in question:
        await pilot.press(char if char != " " else "space")
    await pilot.press("enter")
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    return list(pilot.app.query(AnswerMessage))[-1]


def notices(app) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


async def test_ask_shows_answer_with_markers_and_sources(seeded_settings):
    app = make_app(seeded_settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert "1 articles" in str(app.query_one(StatusLine).render())
        message = await ask(pilot, "what does Japan expect from Sochi?")
        assert message.answer is not None and message.answer.answered
        assert "**[1]**" in message.body.source
        items = list(app.query(CitationItem))
        assert len(items) == len(message.answer.citations) >= 1
        assert items[0].citation.quote in items[0].context


async def test_follow_up_uses_the_history(seeded_settings):
    app = make_app(seeded_settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await ask(pilot, "what does Japan expect from Sochi?")
        follow = await ask(pilot, "and what about China?")
        assert follow.answer.query != follow.answer.question  # resolved against the history
        assert any(w in follow.answer.lead for w in ("China", "Chinese", "Beijing"))
        assert len(app.session.answers) == 2


async def test_citation_opens_the_article_at_the_span(seeded_settings):
    app = make_app(seeded_settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        message = await ask(pilot, "and Lavrov expected what from his Chinese audience?")
        await pilot.press("ctrl+s")
        await pilot.press("down", "up")
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ArticleScreen)
        citation = message.answer.citations[0]
        assert screen.citation == citation
        cited = screen.query(".cited").first()
        assert citation.quote[:40] in str(cited.render())
        body = screen.query_one("#article-body")
        await pilot.pause(0.2)
        assert cited.region.y - body.region.y < body.region.height  # the span is on screen
        await pilot.press("escape")
        assert not isinstance(app.screen, ArticleScreen)


async def test_escape_cancels_an_answer_in_progress(seeded_settings):
    server = fake_openai.start()
    server.delay = 0.3  # a slow model
    try:
        app = make_app(seeded_settings, llm=f"http://127.0.0.1:{server.server_address[1]}")
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await pilot.click("#prompt")
            for char in "Lavrov":
                await pilot.press(char)
            await pilot.press("enter")
            for _ in range(400):  # until some tokens have streamed (later on a busy machine)
                await pilot.pause(0.05)
                messages = list(app.query(AnswerMessage))
                if messages and messages[-1].body.source:
                    break
            message = messages[-1]
            assert message.body.source and message.answer is None  # text shows as it arrives, before the end
            await pilot.press("escape")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert message.answer is None and "Cancelled" in message.body.source
    finally:
        server.shutdown()


async def test_sync_from_the_palette_with_progress(seeded_settings, tmp_path):
    folder = tmp_path / "more"
    write_corpus(folder, count=3)
    seen = []
    app = make_app(seeded_settings)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+p")
        for char in "Sync folder":
            await pilot.press(char if char != " " else "space")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.3)
        for char in str(folder):
            await pilot.press(char)
        await pilot.press("enter")
        await pilot.pause(0.2)
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        assert any(type(m).__name__ == "SyncProgress" for m in seen)
        assert any("Sync finished: 3 added" in n for n in notices(app))
        assert "4 articles" in str(app.query_one(StatusLine).render())


async def test_empty_index_notice(embedded_settings):
    settings = embedded_settings.model_copy(update={"collection": "empty"})
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert any("index is empty" in n for n in notices(app))


async def test_chroma_server_down_notice(embedded_settings):
    settings = Settings(**{**embedded_settings.model_dump(), "chroma_url": "http://127.0.0.1:9"})
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        text = " ".join(notices(app))
        assert "cannot reach the Chroma server" in text and "Traceback" not in text
        assert app.is_running


async def test_llm_unreachable_notice(seeded_settings):
    app = make_app(seeded_settings, llm="http://127.0.0.1:9")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        message = await ask(pilot, "Lavrov?")
        assert any("LLM backend failed" in n for n in notices(app))
        assert message.answer is None and "No answer" in message.body.source


async def test_article_text_is_never_markup(embedded_settings, tmp_path):
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "tricky.txt").write_text(
        "Markup test\n\nThe minister wrote [bold]x[/bold] and [@click=app.quit]quit[/] in his memo about Sochi.\n"
    )
    Index.open(settings=embedded_settings).sync([folder])
    app = make_app(embedded_settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        message = await ask(pilot, "What did the minister write in his memo about Sochi?")
        assert "[bold]x[/bold]" in message.answer.text
        svg = app.export_screenshot()
        assert "[bold]x[/bold]" in svg and "[@click=app.quit]" in svg
        item = app.query_one(CitationItem)
        await pilot.click(AnswerMessage)
        await pilot.click(CitationItem)
        await pilot.pause()
        assert app.is_running and item.citation.quote.count("[") == 4


async def test_export_and_reopen_a_chat(seeded_settings, tmp_path):
    app = make_app(seeded_settings, tmp_path=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await ask(pilot, "what does Japan expect from Sochi?")
        chat_id = app.session.id
        await pilot.press("ctrl+r")
        exported = (tmp_path / f"chat-{chat_id}.md").read_text()
        assert "## Sources" in exported and "Putin’s New Eastward Pivot" in exported
        await pilot.press("ctrl+n")
        assert not list(app.query(AnswerMessage))
        await pilot.press("ctrl+o")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert app.session.id == chat_id
        reopened = list(app.query(AnswerMessage))
        assert reopened and reopened[0].answer.citations
        assert list(app.query(CitationItem))


# -- snapshots -------------------------------------------------------------------------


def _snap_app(seeded_settings):
    return make_app(seeded_settings)


async def _answer_japan(pilot):
    await ready(pilot)
    await ask(pilot, "what does Japan expect from Sochi?")
    await pilot.pause(0.2)


@pytest.mark.parametrize("size", [(100, 30), (80, 24)])
def test_snapshot_chat(snap_compare, seeded_settings, size):
    assert snap_compare(_snap_app(seeded_settings), terminal_size=size, run_before=_answer_japan)


def test_snapshot_article(snap_compare, seeded_settings):
    async def open_article(pilot):
        await _answer_japan(pilot)
        await pilot.press("ctrl+s", "enter")
        await pilot.pause(0.3)

    assert snap_compare(_snap_app(seeded_settings), terminal_size=(100, 30), run_before=open_article)


async def test_filters_apply_to_the_chat_and_bad_dates_are_refused(seeded_settings):
    app = make_app(seeded_settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+f")
        await pilot.pause()
        app.screen.query_one("#since").value = "last spring"
        await pilot.click("#apply")
        await pilot.pause()
        assert any("since must be a date" in n for n in notices(app))
        assert app.filters.since is None  # nothing changed
        await pilot.press("ctrl+f")
        await pilot.pause()
        app.screen.query_one("#as_of").value = "2000-01-01"  # before the seed article
        await pilot.click("#apply")
        await pilot.pause()
        assert app.filters.as_of == "2000-01-01"
        assert "as of 2000-01-01" in str(app.query_one(StatusLine).render())
        message = await ask(pilot, "what does Japan expect from Sochi?")
        assert not message.answer.answered and not message.answer.citations


# -- control sequences in articles ---------------------------------------------------


def screen_text(app) -> str:
    """Every character the screen would put on the terminal, styles aside."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def assert_nothing_raw(text: str) -> None:
    from tests.test_terminal import RAW

    for raw in RAW:
        assert raw.decode() not in text, raw


async def test_control_sequences_are_shown_visibly_in_chat_and_reader(embedded_settings, tmp_path):
    from tests.test_terminal import CLEAR, hostile_corpus

    Index.open(settings=embedded_settings).sync([hostile_corpus(tmp_path / "news")])
    app = make_app(embedded_settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        message = await ask(pilot, "What does Tokyo hope about Russia's economic crisis?")
        assert message.answer is not None and message.answer.citations
        await pilot.pause(0.2)
        shown = screen_text(app)
        assert_nothing_raw(shown)
        assert "␛" in shown  # shown, not silently dropped
        evil = [n for n, c in enumerate(message.answer.citations) if c.article_id == f"evil{CLEAR}"]
        assert evil, message.answer.citations
        await pilot.press("ctrl+s")
        app.query_one("#citations").index = evil[0]
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ArticleScreen)
        shown = screen_text(app)
        assert_nothing_raw(shown)
        assert "Sochi summit ␛]0;pwned␇" in shown  # the title
        assert "␛[2J" in shown and "\\u202e" in shown  # the text


async def test_a_damaged_lexical_index_is_a_notice_in_the_app(seeded_settings):
    from tests.test_caches import garble

    garble(seeded_settings.data_dir / "lexical" / f"{seeded_settings.store_key}.sqlite", "pages")
    app = make_app(seeded_settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        message = await ask(pilot, "what does Japan expect from Sochi?")
        assert message.answer.answered
        assert any(n.startswith("Note: the lexical index") and "rebuilding it" in n for n in notices(app)), notices(app)


async def test_filters_with_since_after_until_are_refused(seeded_settings):
    app = make_app(seeded_settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+f")
        await pilot.pause()
        app.screen.query_one("#since").value = "2022-06-10"
        app.screen.query_one("#until").value = "2022-06-01"
        await pilot.click("#apply")
        await pilot.pause()
        assert any("--since 2022-06-10 is after --until 2022-06-01" in n for n in notices(app))
        assert app.filters.since is None


async def test_damaged_saved_chats_are_a_notice_not_a_crash(seeded_settings):
    chats = seeded_settings.data_dir / "chats.sqlite"
    chats.write_bytes(b"not a database at all" * 100)
    app = make_app(seeded_settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        text = " ".join(notices(app))
        assert f"the saved chats at {chats} are damaged" in text and f"mv {chats} {chats}.damaged" in text
        assert app.is_running
    assert chats.read_bytes().startswith(b"not a database")  # not thrown away


async def test_a_bug_while_answering_is_one_line_naming_the_log(seeded_settings):
    app = make_app(seeded_settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)

        def broken(*args, **kwargs):
            raise ZeroDivisionError("division by zero")

        app.session.ask = broken
        message = await ask(pilot, "what does Japan expect from Sochi?")
        log = seeded_settings.data_dir / "qa-errors.log"
        said = [n for n in notices(app) if "ZeroDivisionError" in n]
        assert said and f"the traceback is in {log}" in said[0] and "\n" not in said[0]
        assert "Traceback (most recent call last)" in log.read_text() and "broken" in log.read_text()
        assert message.answer is None and app.query_one("#prompt").disabled is False


async def test_the_screen_responds_while_a_slow_chroma_server_answers(chroma_server, tmp_path, model_cache):
    import time
    import uuid
    from urllib.parse import urlparse

    from tests.chroma_proxy import ChromaProxy

    settings = Settings(data_dir=tmp_path / "data", model_cache_dir=model_cache, chroma_url=chroma_server,
                        collection=f"slow{uuid.uuid4().hex[:8]}")
    Index.open(settings=settings).sync([SEED.parent])
    proxy = ChromaProxy(urlparse(chroma_server).port)
    app = make_app(settings.model_copy(update={"chroma_url": proxy.url}))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await ask(pilot, "what does Japan expect from Sochi?")
        # From now on every request to the server takes 3 s or more; a key that waited on one
        # would take that long, one that did not takes well under half (a loaded CI machine
        # once took 1.03 s for ctrl+n against 0.1-0.3 s here, so the bar is not 1 s).
        proxy.delay = 3.0
        fast = proxy.delay / 2

        async def took(*keys) -> float:
            started = time.perf_counter()
            await pilot.press(*keys)
            return time.perf_counter() - started

        # opening a citation reads the article from the server: the keys still answer at once
        await pilot.press("ctrl+s")
        assert await took("enter") < fast
        assert not isinstance(app.screen, ArticleScreen)  # not there yet: the read is in a worker
        await pilot.press("ctrl+l")
        assert await took("h", "i") < fast
        assert app.query_one("#prompt").value == "hi"
        for _ in range(200):
            if isinstance(app.screen, ArticleScreen):
                break
            await pilot.pause(0.05)
        assert isinstance(app.screen, ArticleScreen) and "Kurile" in app.screen.article.text
        # new chat and the list of saved chats do not wait on the server either
        await pilot.press("escape")
        assert await took("ctrl+n") < fast
