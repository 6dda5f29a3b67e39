"""`photocap caption`: captions (and attention maps) for a few photos."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from photocap.cli import cli
from photocap.cli._options import (
    batch_size_option,
    beam_option,
    device_option,
    json_option,
    model_option,
    precision_option,
)


def _attention_path(out: Path, photo: Path, many: bool) -> Path:
    return out.with_name(f"{out.stem}-{photo.stem}{out.suffix or '.png'}") if many else out


@cli.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@beam_option
@model_option
@device_option
@precision_option
@json_option
@click.option(
    "--attention",
    "attention_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save each word's attention over the photo as a PNG grid (OUT-<photo>.png for several).",
)
@batch_size_option(16)
def caption(images, beam, model_path, device, precision, as_json, attention_out, batch_size):
    """Print a caption for each IMAGE (nothing is written into the photos).

    \b
    Examples:
      photocap caption holiday.jpg
      photocap caption --beam 5 --json *.jpg
      photocap caption cat.jpg --attention cat-attention.png
    """
    from photocap.captioner import load_captioner
    from photocap.cli._attention import save_attention_grid
    from photocap.errors import PhotocapError
    from photocap.model.beam import DecodeOptions
    from photocap.photos.decode import open_photo

    captioner = load_captioner(model_path, device, precision)
    options = DecodeOptions(beam_size=beam)
    results, failures = [], 0
    for start in range(0, len(images), batch_size):
        photos, paths = [], []
        for path in images[start : start + batch_size]:
            try:
                photos.append(open_photo(path))
                paths.append(path)
            except PhotocapError as exc:
                click.echo(f"Error: {exc}", err=True)
                failures += 1
        described = captioner.describe_images(photos, options, attention=attention_out is not None)
        for path, photo, description in zip(paths, photos, described, strict=True):
            cap, labels = description.caption, description.labels
            record = {
                "path": str(path),
                "caption": cap.text,
                "score": round(cap.score, 4),
                "labels": [
                    {"name": x.name, "probability": round(x.probability, 3), "words": x.words}
                    for x in labels
                ],
            }
            if attention_out is not None:
                out = _attention_path(attention_out, path, len(images) > 1)
                save_attention_grid(photo, cap.words, cap.attention, out)
                record["attention"] = str(out)
            results.append(record)
            if not as_json:
                click.echo(f"{path}\t{cap.text}")
    if as_json:
        click.echo(
            json.dumps(
                {"model": captioner.model_id, "results": results}, ensure_ascii=False, indent=2
            )
        )
    if failures:
        sys.exit(1)
