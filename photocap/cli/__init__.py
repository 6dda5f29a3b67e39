"""The `photocap` command: one click group; each command lives in its own module and calls the library."""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn

import click

from photocap import __version__
from photocap.cli._exit_codes import EXIT_FAILED
from photocap.errors import PhotocapError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# Each command's module and its one-line help: `photocap --help` lists them without importing
# any command (a test keeps these lines equal to the commands' own short help).
COMMANDS = {
    "caption": ("caption", "Print a caption for each IMAGE; nothing is written."),
    "evaluate": ("evaluate", "Score the model against reference captions (COCO metrics)."),
    "index": ("index", "Caption the photos under PATHS, write alt text, index them."),
    "review": ("review", "Check and correct captions on a local web page."),
    "search": ("search", "Find photos whose captions match QUERY, best match first."),
    "train": ("train", "Teach the captioner your own words from captioned photos."),
    "watch": ("watch", "Caption new and changed photos under PATHS as they arrive."),
}


class PhotocapGroup(click.Group):
    """Loads a command's module only when that command runs (a search pays for nothing else);
    turns PhotocapError into `Error: … (hint)` on stderr and exit 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            import importlib

            importlib.import_module(f"{__name__}.{COMMANDS[cmd_name][0]}")  # registers it
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, short) in sorted(COMMANDS.items())])

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except PhotocapError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(EXIT_FAILED)


@click.group(cls=PhotocapGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="photocap")
def cli() -> None:
    """Caption photo libraries: alt text written into your photos, and full-text search over them."""


def main() -> NoReturn:
    try:
        cli(prog_name="photocap")
    except SystemExit as done:
        _exit(done.code)
    _exit(0)


def _exit(code: int | str | None) -> NoReturn:
    """Exits, skipping the interpreter's teardown of PyTorch (0.7 s of every command that
    captioned) once nothing is left running: output flushed, logs closed, no worker process or
    writing thread alive. Anything else exits the ordinary way."""
    if not isinstance(code, int) or "torch" not in sys.modules or _still_working():
        raise SystemExit(code)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`photocap search | head`)
            code = code or 1
    os._exit(code)


def _still_working() -> bool:
    import multiprocessing
    import threading

    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    return bool(multiprocessing.active_children()) or any(not t.daemon for t in others)
