"""`photocap caption` and `photocap evaluate`."""

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
    workers_option,
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

    A blank, one-colour or see-through image gets a plain description ("A plain black image.")
    instead of a caption, an extreme panorama or strip is captioned from its centre, and an
    image too small to caption gets none: its reason goes to stderr (and to --json), and it does
    not make the command fail. --json also gives each caption's confidence (0–1).

    \b
    Examples:
      photocap caption holiday.jpg
      photocap caption --beam 5 --json *.jpg
      photocap caption cat.jpg --attention cat-attention.png
    """
    from photocap.attention import save_attention_grid
    from photocap.captioner import load_captioner
    from photocap.degenerate_photos import assess_photo, transparent_share_of_file
    from photocap.errors import PhotocapError
    from photocap.images import decode_photo
    from photocap.model.search import DecodeOptions

    captioner = load_captioner(model_path, device, precision)
    options = DecodeOptions(beam_size=beam)
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
                decoded.image, decoded.width, decoded.height, transparent_share_of_file(path)
            )
            record = {"path": str(path), "caption": verdict.description}
            if verdict.reason:
                record["reason"] = verdict.reason
            batch.append(record)
            if verdict.captioned:
                photos.append(decoded.image.crop(verdict.crop) if verdict.crop else decoded.image)
                paths.append((path, record))
        captions = captioner.caption_images(photos, options, attention=attention_out is not None)
        for (path, record), photo, cap in zip(paths, photos, captions, strict=True):
            record["caption"] = cap.text
            record["score"] = round(cap.score, 4)
            record["confidence"] = round(cap.confidence, 4)
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
        sys.exit(1)


METRIC_ORDER = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr")


@cli.command()
@click.option(
    "--data",
    "data_csv",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV with columns image,caption (several rows per image).",
)
@click.option(
    "--images", "images_dir", required=True, type=click.Path(file_okay=False, path_type=Path)
)
@click.option(
    "--split",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File with one image name a line: evaluate only these.",
)
@click.option("--limit", type=click.IntRange(1), help="Evaluate the first N images only.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("evaluation.json"),
    show_default=True,
    help="Where the JSON report goes.",
)
@beam_option
@model_option
@device_option
@precision_option
@json_option
@batch_size_option(32)
@workers_option(default=1)
def evaluate(
    data_csv,
    images_dir,
    split,
    limit,
    out,
    beam,
    model_path,
    device,
    precision,
    as_json,
    batch_size,
    workers,
):
    """Score the model against reference captions: BLEU-1..4, METEOR, ROUGE-L, CIDEr (COCO code).

    \b
    Example (Flickr8k test split):
      photocap evaluate --data ../shared/data/flickr8k/captions.txt \\
          --images ../shared/data/flickr8k/images --split ../shared/data/flickr8k/splits/test.txt
    """
    from photocap.evaluation import evaluate_model, read_references

    paths, references = read_references(data_csv, images_dir, split)
    if limit:
        paths, references = paths[:limit], references[:limit]
    report = evaluate_model(
        model_path, paths, references, beam, batch_size, workers, device, precision=precision
    )
    payload = {
        "model": report.model_id,
        "images": report.images,
        "beam": beam,
        "scores": report.scores,
        "failed": report.failed,
        "captions": report.captions,
    }
    out.write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
    if as_json:
        click.echo(
            json.dumps(
                {k: payload[k] for k in ("model", "images", "beam", "scores", "failed")}, indent=2
            )
        )
    else:
        click.echo(f"model {report.model_id}, {report.images} images, beam {beam}")
        for name in METRIC_ORDER:
            click.echo(f"{name:<8} {report.scores[name]:.4f}")
        click.echo(f"report written to {out}", err=True)
    for path, reason in report.failed.items():
        click.echo(f"Error: {path}: {reason}", err=True)
    if report.failed:
        sys.exit(1)
