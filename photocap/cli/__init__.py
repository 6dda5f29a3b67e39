"""The `photocap` command: one click group; each command lives in its own module and calls the library."""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn

import click

from photocap import __version__
from photocap.errors import PhotocapError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class PhotocapGroup(click.Group):
    """Turns PhotocapError into `Error: … (hint)` on stderr and exit 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except PhotocapError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=PhotocapGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="photocap")
def cli() -> None:
    """Caption photo libraries: alt text written into your photos, and full-text search over them."""


def _register() -> None:
    # Each module adds its commands to `cli`; imported here so `photocap --help` lists them all.
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")


_register()


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
