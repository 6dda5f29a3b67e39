"""Option decorators shared by several commands."""

from __future__ import annotations

import click

device_option = click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda", "mps"]),
    default="auto",
    show_default=True,
    help="Where the model runs; auto picks cuda, then mps, then cpu.",
)
model_option = click.option(
    "--model",
    "model_path",
    type=click.Path(dir_okay=False, path_type=str),
    default=None,
    help="Model file (.safetensors); default: $PHOTOCAP_MODEL or the shipped model.",
)
beam_option = click.option(
    "--beam",
    type=click.IntRange(1, 20),
    default=3,
    show_default=True,
    help="Beam size (1 = greedy).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
db_option = click.option(
    "--db",
    "db_url",
    envvar="PHOTOCAP_DB",
    default=None,
    help="Index database URL or SQLite file; default: $PHOTOCAP_DB or ~/.local/share/photocap/index.db.",
)
