"""`photocap caption`: captions (and attention maps) for a few photos."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from photocap.cli import cli
from photocap.cli._exit_codes import EXIT_FAILED
from photocap.cli._options import (
    batch_size_option,
    beam_option,
    device_option,
    evidence_option,
    json_option,
    label_alt_min_option,
    label_alt_option,
    label_lines,
    min_confidence_option,
    model_option,
    precision_option,
)


def _attention_path(out: Path, photo: Path, many: bool) -> Path:
    return out.with_name(f"{out.stem}-{photo.stem}{out.suffix or '.png'}") if many else out


@cli.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@beam_option
@evidence_option
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
@min_confidence_option
@label_alt_option
@label_alt_min_option
def caption(
    images,
    beam,
    evidence,
    model_path,
    device,
    precision,
    as_json,
    attention_out,
    batch_size,
    min_confidence,
    label_alt,
    label_alt_min,
):
    """Print a caption for each IMAGE (nothing is written into the photos).

    A blank, one-colour or see-through image gets a plain description ("A plain black image.")
    instead of a caption, an extreme panorama or strip is captioned from its centre, and an
    image too small to caption gets none: its reason goes to stderr (and to --json), and it does
    not make the command fail. --json also gives each caption's confidence (0–1), the evidence
    for each object group, and the alt text `photocap index` would write: the caption, a label
    line for a held-back caption ("May show: a cat."), or none.

    \b
    Examples:
      photocap caption holiday.jpg
      photocap caption --beam 5 --json *.jpg
      photocap caption cat.jpg --attention cat-attention.png
    """
    from photocap.alt_text import label_line
    from photocap.captioner import load_captioner
    from photocap.cli._attention import save_attention_grid
    from photocap.errors import PhotocapError
    from photocap.model.beam import DecodeOptions
    from photocap.photos.decode import decode_photo
    from photocap.photos.degenerate import assess_photo

    captioner = load_captioner(model_path, device, precision)
    options = DecodeOptions(beam_size=beam, evidence=evidence)
    lines = label_lines(label_alt, label_alt_min)
    results, failures = [], 0
    for start in range(0, len(images), batch_size):
        photos, paths, batch = [], [], []  # batch: each readable photo's record, in order
        for path in images[start : start + batch_size]:
            try:
                decoded = decode_photo(path)
            except PhotocapError as exc:
                click.echo(f"Error: {exc}", err=True)
                failures += 1
                continue
            verdict = assess_photo(
                decoded.image, decoded.width, decoded.height, decoded.transparent
            )
            record = {"path": str(path), "caption": verdict.description}
            if verdict.reason:
                record["reason"] = verdict.reason
            batch.append(record)
            if verdict.captioned:
                photos.append(decoded.image.crop(verdict.crop) if verdict.crop else decoded.image)
                paths.append((path, record))
        described = captioner.describe_images(photos, options, attention=attention_out is not None)
        for (path, record), photo, description in zip(paths, photos, described, strict=True):
            cap = description.caption
            record["caption"] = cap.text
            record["score"] = round(cap.score, 4)
            record["confidence"] = round(cap.confidence, 4)
            record["labels"] = [
                {"name": x.name, "probability": round(x.probability, 3), "words": x.words}
                for x in description.labels
            ]
            record["objects"] = cap.objects or {}
            record["held_back"] = cap.confidence < min_confidence
            record["alt_text"] = (
                (label_line(cap.objects, description.labels, lines) if lines else None)
                if record["held_back"]
                else cap.text
            )
            if attention_out is not None:
                out = _attention_path(attention_out, path, len(images) > 1)
                save_attention_grid(photo, cap.words, cap.attention, out)
                record["attention"] = str(out)
        for record in batch:
            results.append(record)
            if record["caption"] is None:
                click.echo(f"Not captioned: {record['path']}: {record['reason']}", err=True)
            elif not as_json:
                click.echo(f"{record['path']}\t{record['caption']}")
    if as_json:
        click.echo(
            json.dumps(
                {"model": captioner.model_id, "results": results}, ensure_ascii=False, indent=2
            )
        )
    if failures:
        sys.exit(EXIT_FAILED)
