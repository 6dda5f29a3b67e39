"""`photocap watch`: a daemon that captions photos as they arrive and keeps the index in step."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from datetime import datetime
from pathlib import Path

import click

from photocap.cli import cli
from photocap.cli._options import captioning_options, workers_option, writing_options


def _timestamp(created: float) -> str:
    return datetime.fromtimestamp(created).astimezone().isoformat(timespec="milliseconds")


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = f"{_timestamp(record.created)} {record.levelname:<7} {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        from photocap.watch import event_of

        data = {"time": _timestamp(record.created), "level": record.levelname.lower()}
        return json.dumps(data | (event_of(record) or {}), ensure_ascii=False)


def _configure_logging(verbose: int, quiet: int, as_json: bool) -> None:
    """Text logs with timestamps on stderr; with --json, one JSON object per event on stdout
    (stderr then keeps warnings and errors only)."""
    from photocap.watch import event_of

    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.getLogger("photocap").setLevel(level)
    root = logging.getLogger()
    root.setLevel(logging.WARNING)  # other libraries: warnings only
    events_logger = logging.getLogger("photocap.watch")
    for logger in (root, events_logger):  # called again in one process (tests): replace, not add
        for old in [h for h in logger.handlers if getattr(h, "_photocap_watch", False)]:
            logger.removeHandler(old)
    text = logging.StreamHandler(sys.stderr)
    text.setFormatter(_TextFormatter())
    text.setLevel(logging.WARNING if as_json else logging.DEBUG)
    text._photocap_watch = True
    root.addHandler(text)
    if as_json:
        events = logging.StreamHandler(sys.stdout)
        events.setFormatter(_JsonFormatter())
        events.addFilter(lambda record: event_of(record) is not None)
        events._photocap_watch = True
        events_logger.addHandler(events)


def _on_signals(watcher) -> None:
    """SIGINT/SIGTERM: finish the batch in hand and exit 0; a second Ctrl-C interrupts at once."""
    received: list[int] = []

    def handler(signum: int, frame) -> None:
        received.append(signum)
        if len(received) > 1 and signum == signal.SIGINT:
            raise KeyboardInterrupt
        watcher.request_stop()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


@cli.command("watch")
@click.argument(
    "paths",
    nargs=-1,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@captioning_options
@workers_option(
    "Decoding processes for large batches (catching up) [default: half the cores, 1-4]."
)
@writing_options
@click.option(
    "--settle",
    type=click.FloatRange(0.1),
    default=2.0,
    show_default=True,
    metavar="SECONDS",
    help="Without a close event (polling, network shares), caption a file once its size and "
    "time stayed the same this long.",
)
@click.option(
    "--debounce",
    type=click.FloatRange(0.0),
    default=0.3,
    show_default=True,
    metavar="SECONDS",
    help="Wait this long after the last event, so photos arriving together make one batch.",
)
@click.option(
    "--poll/--no-poll",
    default=False,
    help="Poll for changes instead of using inotify/FSEvents (network shares).",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(0.1),
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="How often to poll (with --poll, or when the inotify watch limit is reached).",
)
@click.option(
    "--catch-up/--no-catch-up",
    default=True,
    help="On start, first handle photos added, changed or removed while not watching.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per event on stdout.")
@click.option("-v", "--verbose", count=True, help="Log more (every event, skipped files).")
@click.option("-q", "--quiet", count=True, help="Log warnings and errors only.")
def watch_command(
    paths,
    db_url,
    model_path,
    device,
    precision,
    beam,
    batch_size,
    workers,
    write,
    overwrite,
    keywords,
    settle,
    debounce,
    poll,
    poll_interval,
    catch_up,
    as_json,
    verbose,
    quiet,
):
    """Watch PATHS (default: the folders already indexed) and caption photos as they arrive.

    New and changed photos are captioned once complete (closed by their writer, or unchanged for
    --settle seconds), in batches; their alt text is written and the index updated. Renames and
    moves keep the photo's row; deletions remove it. On start, changes made while it was not
    running are caught up first. SIGINT or SIGTERM finishes the batch in hand and exits 0.

    Logs go to stderr with timestamps; --json prints one JSON object per event on stdout.

    \b
    Examples:
      photocap watch ~/Pictures
      photocap watch                      # the folders `photocap index` was given
      photocap watch /mnt/nas/photos --poll --poll-interval 30
    """
    from photocap.captioner import load_captioner
    from photocap.cli.index import default_workers
    from photocap.indexing import IndexOptions
    from photocap.store.index import open_index
    from photocap.watch import Watcher, WatchOptions

    _configure_logging(verbose, quiet, as_json)
    log = logging.getLogger("photocap.watch")
    index = open_index(db_url)
    try:
        roots = [str(p) for p in paths]
        if not roots:
            known = index.roots()
            roots = [r for r in known if os.path.isdir(r)]
            for missing in sorted(set(known) - set(roots)):
                log.warning("not watching %s: the folder is not there", missing)
            if not roots:
                raise click.UsageError(
                    "no folders to watch: pass PATH, or index a folder first (photocap index PATH)"
                )
        options = WatchOptions(
            index=IndexOptions(
                write=write,
                overwrite=overwrite,
                keywords=keywords,
                beam=beam,
                batch_size=batch_size,
                workers=default_workers() if workers is None else workers,
            ),
            settle=settle,
            debounce=debounce,
            polling=poll,
            poll_interval=poll_interval,
            catch_up=catch_up,
        )
        watcher = Watcher(
            index, lambda: load_captioner(model_path, device, precision), roots, options
        )
        _on_signals(watcher)
        watcher.run()
    finally:
        index.close()
