"""``qa``: a thin command line over the library. Parses, calls the API, prints.

Every expected failure becomes one line on stderr and a non-zero exit; no tracebacks
(set QA_DEBUG=1 to see one for an unexpected error).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import click

EXIT_FAILED = 1  # something went wrong, or some input could not be indexed
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


def make_settings(**overrides):
    from pydantic import ValidationError

    from index.settings import Settings

    values = {k: v for k, v in overrides.items() if v not in (None, "")}
    try:
        return Settings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise click.UsageError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def friendly_errors(func):
    """Turn domain errors into one line and an exit code."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from index import ArticleNotFound, StoreError, SyncBusy
        from index.embedding import EmbeddingError

        try:
            return func(*args, **kwargs)
        except SyncBusy as exc:
            fail(str(exc), EXIT_BUSY)
        except (StoreError, EmbeddingError) as exc:
            fail(str(exc))
        except ArticleNotFound as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # the last line of defence: still one line
            if os.environ.get("QA_DEBUG"):
                raise
            fail(f"unexpected {type(exc).__name__}: {exc} (set QA_DEBUG=1 for details)")

    return wrapper


def fail(message: str, code: int = EXIT_FAILED):
    click.echo(f"qa: error: {message}", err=True)
    sys.exit(code)


def echo_json(data) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=None))


@click.group(invoke_without_command=True)
@click.version_option(package_name="qa-news")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Ask questions of your news articles; every claim cites its passage."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(status_command)


# -- index ---------------------------------------------------------------------------


@cli.command("index")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--rebuild", is_flag=True, help="Drop the collection and index from scratch.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@store_options
@friendly_errors
def index_command(paths, dry_run, rebuild, as_json, settings):
    """Sync PATHS (folders or files) into the collection.

    New articles are added, changed ones re-embedded, ones gone from a synced folder
    removed. With no PATHS, every folder synced before is synced again."""
    from index import Index

    from .progress import sync_progress

    idx = Index.open(settings=settings)
    if not paths and not idx.roots() and not rebuild:
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
                click.echo(f"would {label}: {article_id}")
    for failure in report.failed:
        click.echo(f"failed: {failure['path']}: {failure['reason']}", err=True)
    if report.repaired:
        click.echo("repaired what an interrupted sync left behind", err=True)
    click.echo(report.summary())


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
        click.echo(f"{key:>11}: {status[key]}")
    if status["roots"]:
        click.echo(f"{'synced':>11}: " + ", ".join(status["roots"]))
    if status["interrupted_sync"]:
        click.echo("     note: the last sync was interrupted; the next sync repairs it")


def main() -> None:
    cli(prog_name="qa")


if __name__ == "__main__":
    main()
