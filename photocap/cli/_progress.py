"""Progress and summaries for the terminal: a rich bar on a TTY, nothing but the summary otherwise."""

from __future__ import annotations

import time

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

from photocap.indexing import IndexSummary, PhotoOutcome


class IndexProgress:
    """A bar over the photos found so far, with captioned photos/s and ETA; a no-op when disabled.

    The total grows while folders are still being walked; the rate counts captioned photos only
    (skipping unchanged ones is nearly free), over the time since the first one.
    """

    def __init__(self, enabled: bool, console: Console | None = None):
        self.enabled = enabled
        self.console = console or Console(stderr=True)
        self._progress: Progress | None = None
        self._task = None
        self._captioned = 0
        self._first: float | None = None
        self._counts = {"captioned": 0, "unchanged": 0, "failed": 0}

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
                TextColumn("{task.fields[counts]}"),
                console=self.console,
                transient=True,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("indexing", total=None, rate="", counts="")
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def found(self, count: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, total=count)

    @property
    def rate(self) -> float:
        """Captioned photos per second since the first one was captioned."""
        if self._first is None or self._captioned < 2:
            return 0.0
        elapsed = time.monotonic() - self._first
        return (self._captioned - 1) / elapsed if elapsed > 0 else 0.0

    def advance(self, outcome: PhotoOutcome) -> None:
        kind = {"held_back": "captioned"}.get(outcome.outcome, outcome.outcome)
        kind = kind if kind in self._counts else "unchanged"
        self._counts[kind] += 1
        if outcome.outcome in ("captioned", "held_back"):
            self._captioned += 1
            if self._first is None:
                self._first = time.monotonic()
        if self._progress is not None:
            rate = f"{self.rate:.1f} photos/s" if self.rate else ""
            counts = (
                f"{self._counts['captioned']} captioned, {self._counts['unchanged']} skipped, "
                f"{self._counts['failed']} failed"
            )
            self._progress.update(self._task, advance=1, rate=rate, counts=counts)

    def log(self, message: str) -> None:
        """A line on stderr, above the bar."""
        if self._progress is not None:
            self._progress.console.print(message, markup=False, highlight=False)
        else:
            click.echo(message, err=True)

    def print(self, message: str) -> None:
        """A result line on stdout (the bar, on stderr, is redrawn below it)."""
        if self._progress is not None:
            self._progress.stop()
            click.echo(message)
            self._progress.start()
        else:
            click.echo(message)


def print_summary(summary: IndexSummary, dry_run: bool = False) -> None:
    """The end-of-run summary on stdout, failures listed with their reasons."""
    rate = f" ({summary.photos_per_second:.1f} photos/s)" if summary.photos_per_second else ""
    lines = [f"{'Would caption' if dry_run else 'Captioned'}: {summary.captioned}{rate}"]
    if summary.held_back:
        lines.append(
            f"Held back (unsure: indexed, not written; photocap search --held-back): "
            f"{summary.held_back}"
        )
    if summary.label_lines:
        lines.append(
            f"Label lines written instead (only objects it is sure of): {summary.label_lines}"
        )
    if summary.relabelled:
        lines.append(f"Held back, label line changed: {summary.relabelled}")
    if summary.released:
        lines.append(f"Held back before, written now: {summary.released}")
    if summary.withdrawn:
        lines.append(f"Taken out of the photos (now held back): {summary.withdrawn}")
    if summary.not_captioned:
        lines.append(f"Not captioned (nothing an honest caption could say): {summary.declined}")
        lines += [f"  {path}: {reason}" for path, reason in summary.not_captioned.items()]
    lines.append(f"Unchanged, skipped: {summary.unchanged}")
    if summary.moved:
        lines.append(f"Moved, kept their captions: {summary.moved}")
    if summary.reused:
        lines.append(f"Already captioned by photocap, indexed: {summary.reused}")
    if summary.paired:
        lines.append(f"RAW + JPEG pairs, the caption of the other file: {summary.paired}")
    lines.append(f"Human captions kept: {summary.human}")
    if summary.labelled:
        lines.append(f"Labelled (indexed before labels existed): {summary.labelled}")
    if not dry_run:
        lines.append(f"Metadata written: {summary.embedded} embedded, {summary.sidecar} sidecar")
    if summary.pruned:
        lines.append(f"Removed from the index (files gone): {summary.pruned}")
    if summary.temp_files_removed:
        n = summary.temp_files_removed
        lines.append(f"Removed temporary files left by an interrupted write: {n}")
    lines.append(f"Failed: {len(summary.failed)}")
    lines += [f"  {path}: {reason}" for path, reason in summary.failed.items()]
    lines.append(f"Time: {summary.seconds:.1f} s")
    click.echo("\n".join(lines))
