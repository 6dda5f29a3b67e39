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
from photocap.cli._exit_codes import EXIT_FAILED, EXIT_NOT_RUNNING
from photocap.cli._options import (
    captioning_options,
    label_lines,
    workers_option,
    writing_options,
)


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
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Where the daemon keeps its state for --status [default: watch-<hash of the folders>.json "
    "in $XDG_STATE_HOME/photocap].",
)
@click.option(
    "--status",
    is_flag=True,
    help="Do not watch: tell the state of the daemon watching PATHS (from its state file); exit 0 "
    "when it runs and watches every folder, 1 when a folder is lost, 3 when it is not running.",
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
    evidence,
    batch_size,
    workers,
    write,
    overwrite,
    keywords,
    min_confidence,
    label_alt,
    label_alt_min,
    settle,
    debounce,
    poll,
    poll_interval,
    catch_up,
    state_file,
    status,
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
    A folder that goes away (renamed, deleted, unmounted) keeps its photos in the index and is
    watched again and caught up when it comes back; `photocap watch --status` tells a running
    daemon's state (for systemd or a person).

    \b
    Examples:
      photocap watch ~/Pictures
      photocap watch                      # the folders `photocap index` was given
      photocap watch /mnt/nas/photos --poll --poll-interval 30
      photocap watch --status             # is the daemon running, every folder watched?
    """
    from photocap.captioner import load_captioner
    from photocap.indexing import IndexOptions
    from photocap.indexing.model_input import default_workers
    from photocap.store.index import open_index
    from photocap.watch import Watcher, WatchOptions
    from photocap.watch.health import state_file_for

    if status:
        _print_status(paths, db_url, state_file, as_json)
        return
    _configure_logging(verbose, quiet, as_json)
    log = logging.getLogger("photocap.watch")
    index = open_index(db_url)
    try:
        roots = [str(p) for p in paths]
        state_file = state_file or state_file_for(roots or index.roots())
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
                min_confidence=min_confidence,
                label_lines=label_lines(label_alt, label_alt_min),
                beam=beam,
                evidence=evidence,
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
            index,
            lambda: load_captioner(model_path, device, precision),
            roots,
            options,
            state_file=state_file,
        )
        _on_signals(watcher)
        watcher.run()
    finally:
        index.close()


def _print_status(paths, db_url, state_file, as_json: bool) -> None:
    """`photocap watch --status`: the state file of the daemon over PATHS (or the indexed
    folders), printed; exits 0 when it runs and watches everything, 1 when a folder is lost, 3
    when it is not running."""
    from photocap.store.index import open_index
    from photocap.watch.health import read_status, state_file_for

    if state_file is None:
        roots = [str(p) for p in paths]
        if not roots:
            with open_index(db_url) as index:
                roots = index.roots()
        state_file = state_file_for(roots)
    status = read_status(state_file)
    if status is None:
        if as_json:
            click.echo(json.dumps({"state_file": str(state_file), "running": False}))
        else:
            click.echo(f"not running: no state file at {state_file}")
        sys.exit(EXIT_NOT_RUNNING)
    data = status.data
    if as_json:
        summary = {"state_file": str(state_file), "running": status.running}
        click.echo(json.dumps(summary | {"healthy": status.healthy} | data, ensure_ascii=False))
    else:
        click.echo(_status_text(status))
    sys.exit(0 if status.healthy else EXIT_FAILED if status.running else EXIT_NOT_RUNNING)


def _status_text(status) -> str:
    data = status.data
    pid = data.get("pid")
    if status.running:
        head = f"running (pid {pid}, alive), since {data.get('started')}"
    elif data.get("state") == "running":
        head = f"not running: pid {pid} is gone (the daemon died without stopping)"
    else:
        head = f"stopped (pid {pid} is {'alive' if _alive(pid) else 'gone'})"
    lines = [f"photocap watch: {head}", f"  observer: {data.get('observer') or '?'}"]
    for root in data.get("roots", []):
        state = root.get("state")
        if state == "watching":
            lines.append(f"  {root['path']}: watching")
        else:
            lines.append(f"  {root['path']}: LOST since {root.get('since')} ({root.get('reason')})")
    counts = data.get("counts", {})
    done = ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "nothing yet"
    lines.append(
        f"  done: {done}; {data.get('rescans', 0)} rescans, {data.get('pending', 0)} pending"
    )
    lines.append(f"  last event: {data.get('last_event') or 'none'}; updated {data.get('updated')}")
    if error := data.get("last_error"):
        lines.append(f"  last error: {error.get('time')} {error.get('message')}")
    lines.append(f"  state file: {status.path}")
    return "\n".join(lines)


def _alive(pid) -> bool:
    from photocap.watch.health import pid_alive

    return isinstance(pid, int) and pid_alive(pid)
