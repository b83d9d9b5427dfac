"""A progress bar with ETA for syncs, on stderr, only when it is a terminal."""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def sync_progress(enabled: bool):
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    import time

    columns = [
        TextColumn("{task.description:>12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("articles{task.fields[rate]}, ETA"),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, int] = {}
        started: dict[str, float] = {}

        def update(phase: str, done: int, total: int, chunks: int = 0) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total or 1, rate="")
                started[phase] = time.monotonic()
            elapsed = time.monotonic() - started[phase]
            rate = f", {chunks / elapsed:.0f} chunks/s" if chunks and elapsed > 0 else ""
            bar.update(tasks[phase], completed=done, total=total or 1, rate=rate)

        yield update
