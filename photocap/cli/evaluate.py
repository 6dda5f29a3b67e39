"""`photocap evaluate`: the model against reference captions, with the COCO caption metrics."""

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
    model_option,
    precision_option,
    workers_option,
)

METRIC_ORDER = (
    "BLEU-1",
    "BLEU-2",
    "BLEU-3",
    "BLEU-4",
    "METEOR",
    "ROUGE-L",
    "CIDEr",
    "CHAIR_s",
    "CHAIR_i",
)


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
@evidence_option
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
    evidence,
    model_path,
    device,
    precision,
    as_json,
    batch_size,
    workers,
):
    """Score the model against reference captions: BLEU-1..4, METEOR, ROUGE-L, CIDEr (COCO code),
    and object hallucination: CHAIR_s, the share of captions naming an object no reference names,
    and CHAIR_i, the share of such object mentions.

    \b
    Example (Flickr8k test split):
      photocap evaluate --data ../shared/data/flickr8k/captions.txt \\
          --images ../shared/data/flickr8k/images --split ../shared/data/flickr8k/splits/test.txt
    """
    from photocap.evaluation.captions_csv import read_references
    from photocap.evaluation.run import evaluate_model

    paths, references = read_references(data_csv, images_dir, split)
    if limit:
        paths, references = paths[:limit], references[:limit]
    report = evaluate_model(
        model_path,
        paths,
        references,
        beam,
        batch_size,
        workers,
        device,
        precision=precision,
        evidence=evidence,
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
        sys.exit(EXIT_FAILED)
