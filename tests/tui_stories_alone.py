"""The chat app notices articles that arrive while it runs (a `qa index`, `qa watch` or
`qa fetch` in another process), offers them as new stories, and the reader steps through
a story's outlets. Driven with Pilot against a real index."""

from __future__ import annotations

import asyncio

from index.stories import last_look
from tests.conftest import run_qa
from tests.test_stories import BIKES, ERUPTION_1, ERUPTION_2, write
from tests.test_tui import SIZE, make_app, ready
from tui.screens import ArticleScreen, StoriesScreen
from tui.widgets import StatusLine


async def wait_for(pilot, condition, seconds: float = 60) -> None:
    for _ in range(int(seconds / 0.1)):
        if condition():
            return
        await pilot.pause(0.1)
    raise AssertionError("timed out")


async def test_new_stories_from_another_process_show_up_and_open_in_the_reader(seeded_settings, tmp_path):
    app = make_app(seeded_settings)
    app.arrivals_every = 0.3
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        status = lambda: str(app.query_one(StatusLine).render())  # noqa: E731
        assert "new stor" not in status()  # what was indexed before the app started is not new

        folder = tmp_path / "news"
        write(folder, eruption1=ERUPTION_1, eruption2=ERUPTION_2, bikes=BIKES)
        indexed = await asyncio.to_thread(run_qa, ["index", str(folder)], seeded_settings)
        assert indexed.returncode == 0, indexed.stderr
        await wait_for(pilot, lambda: "2 new stories (3 articles, Ctrl+T)" in status())
        assert "4 articles" in status()

        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: isinstance(app.screen, StoriesScreen))
        stories = app.screen.stories
        eruption = next(n for n, s in enumerate(stories) if len(s.articles) == 2)
        assert last_look(seeded_settings) is not None  # looked: `qa new` starts from here
        await pilot.press(*(["down"] * eruption), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ArticleScreen))
        first = app.screen.article.id
        assert first == "eruption1.md" and "outlet 1 of 2" in str(app.screen.query_one("#article-story").render())
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen.article.id == "eruption2.md")
        assert "outlet 2 of 2" in str(app.screen.query_one("#article-story").render())
        await pilot.press("p")
        await wait_for(pilot, lambda: app.screen.article.id == "eruption1.md")


async def test_an_article_synced_before_the_first_check_is_new(seeded_settings, tmp_path):
    app = make_app(seeded_settings)
    app.arrivals_every = 3600  # no check of its own: the test runs the first one
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await asyncio.sleep(1.1)  # a second after the start: surely an arrival
        write(tmp_path / "news", bikes=BIKES)
        assert (await asyncio.to_thread(run_qa, ["index", str(tmp_path / "news")], seeded_settings)).returncode == 0
        app._check_arrivals()
        await wait_for(pilot, lambda: "1 new story (1 article" in str(app.query_one(StatusLine).render()))


async def test_asking_new_articles_only(seeded_settings, tmp_path):
    app = make_app(seeded_settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        folder = tmp_path / "news"
        write(folder, bikes=BIKES)
        run_qa(["new"], seeded_settings)  # the seed article is old news now
        await asyncio.sleep(1.1)
        assert (await asyncio.to_thread(run_qa, ["index", str(folder)], seeded_settings)).returncode == 0
        app.action_toggle_new_only()
        assert "asking new articles only" in str(app.query_one(StatusLine).render())
        answer = await asyncio.to_thread(app.session.ask, "What does Japan expect from Sochi?")
        assert {c.article_id for c in answer.citations} <= {"bikes.md"}
        app.action_toggle_new_only()
        answer = await asyncio.to_thread(app.session.ask, "What does Japan expect from Sochi?")
        assert "putins-new-eastward-pivot.txt" in {c.article_id for c in answer.citations}
