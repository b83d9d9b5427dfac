"""``qa``: a thin command line over the library. Parses, calls the API, prints.

Every expected failure becomes one line on stderr and an exit code of its own; no
tracebacks. An unexpected error (a bug) says so in one line and writes its traceback to
``qa-errors.log`` in the data folder (QA_DEBUG=1 raises it instead).
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from pathlib import Path
from typing import NoReturn

import click

from .terminal import json_line, visible

EXIT_FAILED = 1  # a known error, or some input could not be used (files, lines of a batch)
EXIT_UNAVAILABLE = 69  # the Chroma server is down, does not answer, or went away (EX_UNAVAILABLE)
EXIT_BUG = 70  # unexpected: a bug in qa; the traceback is in the log (EX_SOFTWARE)
EXIT_STORAGE = 74  # the disk is full, a store is damaged, a folder cannot be written (EX_IOERR)
EXIT_BUSY = 75  # another sync holds the collection (EX_TEMPFAIL)


def store_options(func):
    """--collection / --data-dir / --chroma-url on every command that opens the store."""

    @click.option("--collection", "-c", envvar="QA_COLLECTION", help="Named collection [default: default].")
    @click.option("--data-dir", type=click.Path(path_type=Path), envvar="QA_HOME", help="Where data lives (QA_HOME).")
    @click.option("--chroma-url", envvar="QA_CHROMA_URL", help="Use a Chroma server, e.g. http://localhost:8000.")
    @functools.wraps(func)
    def wrapper(*args, collection=None, data_dir=None, chroma_url=None, **kwargs):
        settings = make_settings(collection=collection, data_dir=data_dir, chroma_url=chroma_url)
        return func(*args, settings=settings, **kwargs)

    return wrapper


def filter_options(func):
    """--since / --until / --source / --as-of / --recent on `search` and `ask`."""
    for option in reversed([
        click.option("--since", help="Only articles dated on or after this day (YYYY-MM-DD)."),
        click.option("--until", help="Only articles dated on or before this day (YYYY-MM-DD)."),
        click.option("--source", "sources", multiple=True, help="Only this source (repeatable)."),
        click.option("--as-of", "as_of", help='Search as if on this day: later articles are left out, "recent" counts from it.'),
        click.option("--recent/--no-recent", default=None, help='Prefer newer articles [default: when the wording asks, e.g. "this week"].'),
    ]):
        func = option(func)
    return func


def make_settings(**overrides):
    from index.settings import ConfigError, Settings

    values = {k: v for k, v in overrides.items() if v not in (None, "")}
    # A bad setting (flag, environment or file) is one line, as every error: not click's
    # usage text, which points at the command line when the culprit may be elsewhere.
    try:
        return Settings(**values)
    except ConfigError as exc:
        fail(str(exc), ConfigError.exit_code)


_read_only_ran = False


def read_only(func):
    """A command that writes nothing a process teardown would finish: ``main`` leaves
    without one after it."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        global _read_only_ran
        _read_only_ran = True
        return func(*args, **kwargs)

    return wrapper


def friendly_errors(func):
    """The one printer of errors: a known error (``QAError``, or what a low-level error
    stands for) is one line and its exit code; anything else is a bug, said in one line,
    with the traceback in the log."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from index.errors import describe, known_error

        notes_to_stderr()
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except BrokenPipeError:
            # the reader went away (`qa ask ... | head`): not an error, and nothing more to say
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            known = known_error(exc, kwargs.get("settings"))
            if known is not None:
                fail(describe(known), known.exit_code)
            if os.environ.get("QA_DEBUG"):
                raise
            unexpected(exc, kwargs.get("settings"))

    return wrapper


def unexpected(exc: Exception, settings) -> None:
    """A bug: one line on stderr, the traceback appended to qa-errors.log in the data folder."""
    from index.errors import log_bug

    data_dir = settings.data_dir if settings is not None else make_settings().data_dir
    fail(log_bug(exc, data_dir, "qa " + " ".join(sys.argv[1:])), EXIT_BUG)


class _Notes(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        click.echo("qa: note: " + visible(record.getMessage()), err=True)


def notes_to_stderr() -> None:
    """Warnings of the library (a damaged cache rebuilt...) as one 'qa: note:' line each."""
    for name in ("index", "qa"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, _Notes) for h in logger.handlers):
            logger.addHandler(_Notes(logging.WARNING))
            logger.propagate = False


def fail(message: str, code: int = EXIT_FAILED):
    click.echo(f"qa: error: {visible(message)}", err=True)
    sys.exit(code)


def echo_json(data) -> None:
    """Exact JSON on one line; characters a terminal acts on are \\u escapes."""
    click.echo(json_line(data))


@click.group(invoke_without_command=True)
@click.version_option(package_name="qa-news")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Ask questions of your news articles; every claim cites its passage.

    With no command: the chat app on a terminal, `qa status` otherwise."""
    if ctx.invoked_subcommand is None:
        chat = cli.commands.get("chat")  # added by tui.cli, the `qa` console script
        if chat is not None and sys.stdin.isatty() and sys.stdout.isatty():
            ctx.invoke(chat)
        else:
            ctx.invoke(status_command)


# -- config ---------------------------------------------------------------------------


@cli.group("config")
def config_group() -> None:
    """The settings file (TOML): where it is, what is in effect, and setting a key.

    Precedence: flags > environment (QA_...) > the settings file > defaults."""


@config_group.command("path")
def config_path_command():
    """Where the settings file is (QA_CONFIG names another)."""
    from index.settings import config_path

    click.echo(str(config_path()))


@config_group.command("show")
@click.option("--json", "as_json", is_flag=True, help='Print {"path", "settings": [{"key", "value", "from"}]}.')
@friendly_errors
def config_show_command(as_json):
    """Every setting in effect, and where it comes from (environment, file or default)."""
    from index.settings import config_path

    from .config import effective

    rows = effective()
    if as_json:
        echo_json({"path": str(config_path()), "settings": rows})
        return
    click.echo(f"# {visible(config_path())}")
    for row in rows:
        click.echo(f"{row['key']} = {visible(row['value'])}  ({row['from']})")


@config_group.command("set")
@click.argument("key")
@click.argument("value")
@friendly_errors
def config_set_command(key, value):
    """Set KEY to VALUE in the settings file (checked first)."""
    from .config import set_value

    path, shown = set_value(key, value)
    click.echo(f"{key} = {visible(shown)} in {visible(path)}")


@config_group.command("unset")
@click.argument("key")
@friendly_errors
def config_unset_command(key):
    """Remove KEY from the settings file (its default, or the environment's, applies)."""
    from .config import unset_value

    path, was_set = unset_value(key)
    click.echo(f"{key} removed from {visible(path)}" if was_set else f"{key} was not set in {visible(path)}")


# -- index ---------------------------------------------------------------------------


@cli.command("index")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--rebuild", is_flag=True, help="Index from scratch every folder synced before, and PATHS.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@store_options
@friendly_errors
def index_command(paths, dry_run, rebuild, as_json, settings):
    """Sync PATHS (folders or files) into the collection.

    New articles are added, changed ones re-embedded, ones gone from a synced folder
    removed. With no PATHS, every folder and file synced before is synced again."""
    from index import Index

    from .progress import sync_progress

    idx = Index.open(settings=settings, check_model=not (rebuild and not dry_run))  # a rebuild may change the model
    if not paths and not idx.roots():
        fail("nothing to sync: give a folder or file (qa index PATH...)")
    show = not as_json and sys.stderr.isatty()
    with sync_progress(enabled=show) as progress:
        report = idx.sync(list(paths), dry_run=dry_run, rebuild=rebuild, progress=progress)
    if as_json:
        echo_json(report.to_dict())
    else:
        print_report(report)
    sys.exit(EXIT_FAILED if report.failed else 0)


def print_report(report) -> None:
    if report.dry_run:
        for label, ids in (("add", report.added), ("update", report.updated), ("remove", report.removed)):
            for article_id in ids:
                click.echo(f"would {label}: {visible(article_id)}")
    for failure in report.failed:
        click.echo(f"failed: {visible(failure['path'])}: {visible(failure['reason'])}", err=True)
    if report.repaired:
        click.echo("repaired what an interrupted sync left behind", err=True)
    click.echo(report.summary())


# -- feeds ----------------------------------------------------------------------------


@cli.group("feeds")
def feeds_group() -> None:
    """The feeds whose new articles `qa fetch` brings in (RSS, RDF, Atom)."""


@feeds_group.command("add")
@click.argument("url")
@click.option("--name", help="A short name [default: from the URL's host].")
@store_options
@friendly_errors
def feeds_add_command(url, name, settings):
    """Add the feed at URL; `qa fetch` then brings in its articles."""
    from index.feeds import FeedStore

    feed = FeedStore.for_settings(settings).add(url, name)
    click.echo(f"added feed {feed.name}: {visible(feed.url)} (qa fetch {feed.name} brings in its articles)")


@feeds_group.command("list")
@click.option("--json", "as_json", is_flag=True, help='Print {"feeds": [...]}.')
@store_options
@friendly_errors
def feeds_list_command(as_json, settings):
    """The feeds, with their article counts and last fetch."""
    from index.feeds import FeedStore

    feeds = FeedStore.for_settings(settings).feeds()
    if as_json:
        echo_json({"feeds": [f.to_dict() for f in feeds]})
        return
    if not feeds:
        click.echo("no feeds yet: add one with qa feeds add URL")
    for f in feeds:
        fetched = f"last fetched {f.last_fetch}" if f.last_fetch else "not fetched yet"
        click.echo(f"{f.name}  {visible(f.url)}  {f.articles} articles, {fetched}")
        if f.last_error:
            click.echo(f"    last error: {visible(f.last_error)}")


@feeds_group.command("remove")
@click.argument("name")
@store_options
@friendly_errors
def feeds_remove_command(name, settings):
    """Remove feed NAME and its articles from the index."""
    import shutil

    from index import Index
    from index.feeds import FeedStore, feeds_root, sync_feeds

    idx = Index.open(settings=settings)
    store = FeedStore.for_settings(settings)
    store.feed(name)  # an unknown name fails before anything is removed
    shutil.rmtree(feeds_root(settings) / name, ignore_errors=True)
    store.remove(name)
    report = sync_feeds(idx)
    removed = len(report.removed) if report else 0
    click.echo(f"removed feed {name} and its {removed} articles from collection {settings.collection}")


@cli.command("fetch")
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help='Print {"feeds": [{"name", "new", "unchanged", "failed"...}], "sync": {...}}.')
@store_options
@friendly_errors
def fetch_command(names, as_json, settings):
    """Poll the feeds (all, or NAMES) once and index their new and edited articles."""
    from index import Index
    from index.feeds import fetch_feeds, sync_feeds

    from .progress import sync_progress

    idx = Index.open(settings=settings)  # a store that is down or built with another model fails first
    results = fetch_feeds(settings, list(names) or None)
    with sync_progress(enabled=not as_json and sys.stderr.isatty()) as progress:
        report = sync_feeds(idx, progress)
    failed = any(r.failed for r in results) or bool(report and report.failed)
    if as_json:
        echo_json({"feeds": [r.to_dict() for r in results], "sync": report.to_dict() if report else None})
    else:
        for result in results:
            click.echo(visible(result.summary()))
            for failure in result.failed:
                click.echo(f"failed: {visible(failure['url'])}: {visible(failure['reason'])}", err=True)
        if report is not None:
            print_report(report)
    sys.exit(EXIT_FAILED if failed else 0)


@cli.command("watch")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--every", type=click.FloatRange(min=0), default=30.0, show_default=True, help="Minutes between two polls of the feeds (0: never).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line and event.")
@store_options
@friendly_errors
def watch_command(paths, every, as_json, settings):
    """Keep the index current until Ctrl+C: sync PATHS (default: every folder synced
    before) when they change, and fetch the feeds every few minutes."""
    import datetime as dt
    import signal

    from index import Index
    from index.watch import Watcher

    def show(event) -> None:
        if as_json:
            echo_json({"at": dt.datetime.now().isoformat(timespec="seconds"), **event.to_dict()})
            return
        stamp = dt.datetime.now().strftime("%H:%M:%S")
        click.echo(f"{stamp} {event.kind}: {visible(event.message)}", err=event.kind == "error")
        for failure in event.report.failed if event.report else []:
            click.echo(f"         failed: {visible(failure['path'])}: {visible(failure['reason'])}", err=True)
        for result in event.feeds:
            for failure in result.failed:
                click.echo(f"         failed: {visible(failure['url'])}: {visible(failure['reason'])}", err=True)

    idx = Index.open(settings=settings)
    watcher = Watcher(idx, list(paths), every * 60, show)
    # SIGTERM (a service manager, kill) stops it as Ctrl+C does, after the running sync
    signal.signal(signal.SIGTERM, lambda *_: watcher.stop.set())
    try:
        watcher.run()
    except KeyboardInterrupt:
        pass
    click.echo("stopped watching", err=True)


# -- status --------------------------------------------------------------------------


@cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@store_options
@friendly_errors
def status_command(as_json=False, settings=None):
    """Collection, article and chunk counts, model, where the data lives, last sync."""
    from .builder import open_index

    if settings is None:
        settings = make_settings()
    idx = open_index(settings)
    status = idx.status()
    if as_json:
        echo_json(status)
        return
    for key in ("collection", "articles", "chunks", "model", "store", "where", "last_sync"):
        click.echo(f"{key:>11}: {visible(status[key])}")
    if status["roots"]:
        click.echo(f"{'synced':>11}: " + ", ".join(visible(root) for root in status["roots"]))
    if status["interrupted_sync"]:
        click.echo("     note: the last sync was interrupted; the next sync repairs it")


# -- search --------------------------------------------------------------------------


@cli.command("search")
@click.argument("query", required=False)
@click.option("-k", "k", default=5, show_default=True, type=click.IntRange(1, 100), help="Passages to return.")
@filter_options
@click.option("--rerank/--no-rerank", default=None, help="Rescore the top passages with the answer model [default: as shipped: off for search].")
@click.option("--stories/--no-stories", default=None, help='One result per story, with "and N more outlets" [default: on, off with --batch].')
@click.option("--batch", type=click.File("rb"), help='JSONL of {"id", "question"[, "as_of"]}; one JSON line out per query.')
@click.option("--json", "as_json", is_flag=True, help='Print {"query", "passages": [...]}.')
@store_options
@read_only
@friendly_errors
def search_command(query, k, since, until, sources, as_of, recent, rerank, stories, batch, as_json, settings):
    """Find the passages that best match QUERY (hybrid dense + BM25)."""
    from .builder import open_retriever

    if not query and not batch:
        raise click.UsageError("give a QUERY or --batch FILE")
    prefetch = None
    if query and query.strip() and not batch:
        from .prefetch import QueryPrefetch

        prefetch = QueryPrefetch(query, settings)  # embeds it on the other core meanwhile
    retriever = open_retriever(settings)
    if prefetch is not None:
        from .prefetch import remember_precision

        retriever.use_query_vector(query, prefetch.vector(retriever.index.precision))
        remember_precision(settings, retriever.index.precision)
    filters = {
        "k": k, "since": since, "until": until, "sources": list(sources) or None, "as_of": as_of, "recent": recent,
        "rerank": rerank, "stories": stories if stories is not None else not batch,
    }
    if batch:
        sys.exit(EXIT_FAILED if run_batch(retriever, batch, filters) else 0)
    passages = retriever.search(query, **filters)
    if as_json:
        echo_json({"query": query, "passages": [p.to_dict() for p in passages]})
        return
    if not passages:
        click.echo("no passages found")
    for n, p in enumerate(passages, start=1):
        meta = " · ".join(x for x in (p.date, p.source) if x)
        click.echo(f"[{n}] {visible(p.title)}" + (f"  ({visible(meta)})" if meta else ""))
        click.echo(f"    {visible(p.article_id)} @ {p.start}-{p.end}  score {p.score:.4f}")
        click.echo("    " + visible(" ".join(p.text.split())[:300]))
        if p.more_outlets:
            click.echo("    " + visible(more_outlets_line(p.more_outlets)))
        click.echo()


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def more_outlets_line(others: list[dict]) -> str:
    names = sorted({o["source"] or o["article_id"] for o in others})
    return f"and {len(others)} more from the same story: " + ", ".join(names)


def run_batch(retriever, handle, filters) -> int:
    """One JSON line out per line in, in order; a bad line is an error line (and a
    `failed:` line on stderr), never the end of the batch. Returns how many failed."""
    from index.errors import QAError
    from index.readers import ReadError, json_object, jsonl_lines, kind_of

    failed = 0
    for lineno, raw in jsonl_lines(handle):
        if not raw.strip():
            continue
        item: dict = {}
        try:
            item = json_object(raw)
            question = item.get("question")
            if question is None:
                raise ReadError("missing 'question'")
            if not isinstance(question, str):
                raise ReadError(f"'question' must be text, not {kind_of(question)}")
            passages = retriever.search(question, **{**filters, "as_of": item.get("as_of") or filters["as_of"]})
            out = {"id": item.get("id"), "query": question, "passages": [p.to_dict() for p in passages]}
        except QAError as exc:  # this line's error; the batch goes on
            failed += 1
            out = {"id": item.get("id"), "line": lineno, "error": str(exc)}
            click.echo(f"failed: {visible(handle.name)}:{lineno}: {visible(exc)}", err=True)
        echo_json(out)
    return failed


# -- ask ----------------------------------------------------------------------------


@cli.command("ask")
@click.argument("question")
@filter_options
@click.option("--rerank/--no-rerank", default=None, help="Rescore the retrieved passages with the answer model [default: as shipped: on for the model's answers].")
@click.option("--new", "new", is_flag=True, help="Only articles that arrived since you last ran `qa new`.")
@click.option("--new-since", "new_since", metavar="DAY", help="Only articles that arrived since DAY (YYYY-MM-DD).")
@click.option("--llm", "llm", envvar="QA_LLM", help="URL of an OpenAI-compatible server, ollama:MODEL or gguf:PATH.")
@click.option("--json", "as_json", is_flag=True, help="Print the Answer as JSON.")
@store_options
@read_only
@friendly_errors
def ask_command(question, since, until, sources, as_of, recent, rerank, new, new_since, llm, as_json, settings):
    """Answer QUESTION from the articles, citing the passages."""
    from index.stories import since_epoch

    from .assistant import Filters
    from .builder import open_assistant

    try:
        arrived = since_epoch(new_since or "last", settings) if (new or new_since) else None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    assistant = open_assistant(settings, llm=llm)
    streams = not as_json and assistant.llm is not None
    stream = (lambda t: click.echo(visible(t, newlines=True), nl=False)) if streams else None
    filters = Filters(list(sources) or None, since, until, as_of, recent, new_since=arrived)
    answer = assistant.ask(question, filters=filters, on_token=stream, rerank=rerank)
    if as_json:
        echo_json(answer.to_dict())
        return
    if stream:
        # the streamed draft stays on screen; what follows is the same text, checked
        click.echo("\n\nChecked against the articles:")
    click.echo(visible(answer.text, newlines=True))
    if answer.citations:
        click.echo("\nSources:")
    for c in answer.citations:
        meta = ", ".join(x for x in (c.date, c.source) if x)
        click.echo(
            f"[{c.n}] {visible(c.title)}" + (f" ({visible(meta)})" if meta else "")
            + f" — {visible(c.article_id)} @ {c.start}-{c.end}"
        )
        click.echo(f"    “{visible(' '.join(c.quote.split()))}”")
        if c.more_outlets:
            click.echo("    " + visible(more_outlets_line(c.more_outlets)))
    if answer.unsupported:
        click.echo("\nNot supported by the articles (shown without citation):")
        for sentence in answer.unsupported:
            click.echo(f"  - {visible(sentence)}")


# -- new ------------------------------------------------------------------------------


@cli.command("new")
@click.option("--since", "since", default="last", show_default=True, help='A day (YYYY-MM-DD), or "last": since you last ran qa new.')
@click.option("--json", "as_json", is_flag=True, help='Print {"since", "stories": [{"title", "lead", "outlets", "dates", "articles"}]}.')
@store_options
@friendly_errors
def new_command(since, as_json, settings):
    """The stories that arrived since a day, or since you last looked: each with its
    outlets, dates and lead sentence."""
    import datetime as dt

    from index.stories import look_mark, mark_looked, new_stories, since_epoch

    from .builder import open_index

    try:
        start = since_epoch(since, settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    idx = open_index(settings)
    looked_at = look_mark(idx)  # what arrives from now on is new at the next look
    stories = new_stories(idx, start)
    mark_looked(settings, looked_at)
    when = dt.datetime.fromtimestamp(start).isoformat(sep=" ", timespec="minutes")
    if as_json:
        echo_json({"since": dt.datetime.fromtimestamp(start).astimezone().isoformat(),
                   "stories": [s.to_dict() for s in stories]})
        return
    if not stories:
        click.echo(f"nothing new since {when}")
        return
    articles = sum(len(s.articles) for s in stories)
    click.echo(f"{plural(len(stories), 'story', 'stories')} ({plural(articles, 'article')}) since {when}:")
    for story in stories:
        outlets = story.outlets
        dates = story.dates
        span = (dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}") if dates else "undated"
        count = plural(len(story.articles), "article")
        click.echo("")
        click.echo(f"* {visible(story.title)}")
        click.echo(f"  {count} · {visible(', '.join(outlets)) or 'no outlet named'} · {span}")
        if story.lead:
            click.echo(f"  \u201c{visible(story.lead)}\u201d")
        for article in story.articles:
            click.echo(f"    {visible(article.id)}")


# -- mcp ------------------------------------------------------------------------------


@cli.command("mcp")
@click.option("--http", "http_port", type=click.IntRange(1, 65535), help="Serve streamable HTTP on localhost:PORT instead of stdio.")
@click.option("--allow-sync", is_flag=True, help="Add a `sync` tool (the server is read-only without it).")
@store_options
@friendly_errors
def mcp_command(http_port, allow_sync, settings):
    """An MCP server for agents: search, ask, get_article, list_sources, index_status."""
    from .mcp import serve

    serve(settings, http_port, allow_sync)


# -- eval ----------------------------------------------------------------------------


@cli.command("eval")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("-k", "k", default=10, show_default=True, type=click.IntRange(1, 100))
@click.option("--limit", type=int, help="Only the first N questions.")
@click.option("--answers/--no-answers", default=True, show_default=True, help="Also score the answers.")
@click.option("--history/--no-history", default=True, show_default=True, help="Resolve follow-ups against each question's history.")
@click.option("--dates/--no-dates", default=True, show_default=True, help="Ask each question as of its date (the set's date field).")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@store_options
@friendly_errors
def eval_command(folder, k, limit, answers, history, dates, as_json, settings):
    """Measure retrieval on an eval set (corpus.jsonl + questions.jsonl in FOLDER).

    The corpus is synced into its own collection (eval-<folder name>) unless --collection
    is given."""
    from index import Index

    from .evaluation import corpus_path, eval_collection_name, evaluate_retriever, load_questions
    from .progress import sync_progress
    from .retrieval import Retriever

    questions = load_questions(folder)[:limit] if limit else load_questions(folder)
    corpus = corpus_path(folder)
    if settings.collection == "default" and not os.environ.get("QA_COLLECTION"):
        settings = make_settings(**{**settings.model_dump(), "collection": eval_collection_name(folder)})
    idx = Index.open(settings=settings)
    with sync_progress(enabled=sys.stderr.isatty() and not as_json) as progress:
        report = idx.sync([corpus], progress=progress)
    if report.failed:
        click.echo(f"note: {len(report.failed)} corpus lines could not be indexed", err=True)
    retriever = Retriever(idx)
    retriever.warm_up()
    scores = evaluate_retriever(retriever, questions, k=k, use_history=history, use_dates=dates)
    if scores.without_gold:
        verb = "has" if scores.without_gold == 1 else "have"
        click.echo(
            f"note: {scores.without_gold} of {len(questions)} questions {verb} no gold_articles:"
            " not in the retrieval scores",
            err=True,
        )
    data = {"set": str(folder), "collection": settings.collection, "retrieval": scores.to_dict()}
    if answers:
        from .answer_eval import score_answers
        from .assistant import Assistant

        data["answers"] = score_answers(Assistant(retriever), questions, use_history=history, use_dates=dates).to_dict()
    if as_json:
        echo_json(data)
        return
    click.echo(f"{visible(folder)} ({len(questions)} questions; collection {settings.collection})")
    for part in ("retrieval", "answers"):
        if part in data:
            click.echo(f"{part}:")
            for key, value in data[part].items():
                click.echo(f"{key:>18}: {value}")


def main() -> None:
    """The console script. A read-only command's process ends as soon as its output is
    out: Python's teardown (chromadb's modules and Rust bindings) took 0.15-0.18 s of a
    cold `qa search` after the results were printed, and a search leaves nothing to save.
    Commands that write exit the usual way: leaving like this skips every finalizer, and
    one that still holds data to write would lose it."""
    try:
        cli(prog_name="qa")
    except SystemExit as done:
        if _read_only_ran and (done.code is None or isinstance(done.code, int)):
            leave_now(done.code or 0)
        raise


def leave_now(code: int) -> NoReturn:
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # the reader went away (`qa search ... | head`)
            pass
    os._exit(code)


if __name__ == "__main__":
    main()
