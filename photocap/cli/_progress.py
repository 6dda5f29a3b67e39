"""Progress and summaries for the terminal: a rich bar on a TTY, nothing but the summary otherwise."""

from __future__ import annotations

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from photocap.pipeline import IndexSummary, PhotoOutcome


class IndexProgress:
    """photos/s and ETA over the photos found so far; a no-op when disabled."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.console = Console(stderr=True)
        self._progress = None
        self._task = None
        self._done = 0

    def __enter__(self) -> IndexProgress:
        if self.enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("indexing", total=None, rate="")
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def found(self, count: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, total=count)

    def advance(self, outcome: PhotoOutcome) -> None:
        self._done += 1
        if self._progress is not None:
            task = self._progress.tasks[0]
            speed = task.finished_speed or task.speed
            rate = f"{speed:.1f} photos/s" if speed else ""
            self._progress.update(self._task, advance=1, rate=rate)

    def log(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(message, markup=False, highlight=False)
        else:
            click.echo(message, err=True)


def print_summary(summary: IndexSummary, dry_run: bool = False) -> None:
    """The end-of-run summary on stdout, failures listed with their reasons."""
    rate = f" ({summary.photos_per_second:.1f} photos/s)" if summary.captioned else ""
    lines = [
        f"{'Would caption' if dry_run else 'Captioned'}: {summary.captioned}{rate}",
        f"Unchanged, skipped: {summary.unchanged}",
    ]
    if summary.moved:
        lines.append(f"Moved, kept their captions: {summary.moved}")
    if summary.reused:
        lines.append(f"Already captioned by photocap, indexed: {summary.reused}")
    lines.append(f"Human captions kept: {summary.human}")
    if not dry_run:
        lines.append(f"Metadata written: {summary.embedded} embedded, {summary.sidecar} sidecar")
    if summary.pruned:
        lines.append(f"Removed from the index (files gone): {summary.pruned}")
    lines.append(f"Failed: {len(summary.failed)}")
    lines += [f"  {path}: {reason}" for path, reason in summary.failed.items()]
    lines.append(f"Time: {summary.seconds:.1f} s")
    click.echo("\n".join(lines))
