"""The `photocap` command: one click group; each command lives in its own module and calls the library."""

from __future__ import annotations

import sys

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


def main() -> None:
    cli(prog_name="photocap")
