"""`photocap train --data my.csv`: fine-tune (or retrain) the captioner on a user's own captions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from photocap.cli import cli
from photocap.cli._exit_codes import EXIT_INTERRUPTED, EXIT_NOT_BETTER
from photocap.cli._options import (
    batch_size_option,
    db_option,
    device_option,
    json_option,
    workers_option,
)
from photocap.model import ENCODER_NAMES


@cli.command()
@click.option(
    "--data",
    "data",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV with columns image,caption (one row per caption; header optional).",
)
@click.option(
    "--from-index",
    is_flag=True,
    help="Learn from the captions people wrote or accepted in the index (photocap review) "
    "instead of a CSV.",
)
@db_option
@click.option(
    "--under",
    type=click.Path(file_okay=False, path_type=Path),
    help="With --from-index: only the photos inside this folder.",
)
@click.option(
    "--images",
    "images_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder the image paths are relative to [default: the CSV's folder].",
)
@click.option(
    "--val",
    "val",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Validation CSV (same format) instead of holding out --val-fraction of the photos.",
)
@click.option(
    "--val-fraction",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="Share of the photos held out for validation [default: 10%, at least 20 photos "
    "and at most 30%].",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Model file to write [default: <data dir>/models/<csv name>.safetensors].",
)
@click.option(
    "--base",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Model to fine-tune [default: the default model].",
)
@click.option("--scratch", is_flag=True, help="Retrain from scratch: new vocabulary and decoder.")
@click.option(
    "--encoder",
    type=click.Choice(ENCODER_NAMES),
    default=None,
    metavar="NAME",
    help="Backbone for --scratch: efficientnet_lite0..2, resnet18..152 "
    "[default: efficientnet_lite2].",
)
@click.option(
    "--encoder-weights",
    type=click.Path(dir_okay=False, path_type=Path),
    help="ImageNet weights file for the --scratch encoder (ResNets: else torchvision's cache).",
)
@click.option(
    "--fine-tune-encoder",
    is_flag=True,
    help="Also train the encoder's last stage (slow on a CPU; features are then not cached).",
)
@click.option(
    "--tune",
    type=click.Choice(["words", "all"]),
    default="words",
    show_default=True,
    help="Fine-tuning: 'words' trains the decoder's words side (embeddings, output and copy "
    "layers, the LSTM's word inputs) and keeps the base's attention and recurrence, a third "
    "faster and steadier on a few photos; 'all' trains every decoder weight.",
)
@click.option("--epochs", type=click.IntRange(1), help="[default: 10 fine-tuning, 20 --scratch]")
@batch_size_option(32)
@click.option(
    "--lr",
    type=click.FloatRange(0, min_open=True),
    help="Learning rate [default: 2e-4 fine-tuning, 4e-4 --scratch].",
)
@click.option(
    "--patience",
    type=click.IntRange(1),
    default=3,
    show_default=True,
    help="Stop after this many epochs without a better validation loss (CIDEr, --scratch).",
)
@click.option(
    "--min-word-count",
    type=click.IntRange(1),
    default=2,
    show_default=True,
    help="A new word joins the vocabulary when the captions use it this often.",
)
@click.option(
    "--strict", is_flag=True, help="Refuse the data if any row or photo is unusable, not skip it."
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Feature cache folder [default: <data dir>/cache/features].",
)
@click.option(
    "--resume", is_flag=True, help="Continue an interrupted run of the same command exactly."
)
@click.option(
    "--set-default",
    is_flag=True,
    help="Make the new model the default for caption, index and watch.",
)
@click.option(
    "--min-steps",
    type=click.IntRange(0),
    default=150,
    show_default=True,
    help="Optimiser steps the --epochs span at least: with few photos each epoch makes several "
    "passes (early stopping may end the run sooner).",
)
@click.option(
    "--keep-worse",
    is_flag=True,
    help="Write the model even when the judgement on the validation photos finds it not better "
    f"than the base model (else none is written and the exit code is {EXIT_NOT_BETTER}).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@workers_option("Processes decoding photos while features are computed.", default=1)
@device_option
@json_option
@click.option("--quiet", "-q", is_flag=True, help="No progress, table or messages on stderr.")
def train(
    data,
    from_index,
    db_url,
    under,
    images_dir,
    val,
    val_fraction,
    out,
    base,
    scratch,
    encoder,
    encoder_weights,
    fine_tune_encoder,
    tune,
    epochs,
    batch_size,
    lr,
    patience,
    min_word_count,
    strict,
    cache_dir,
    resume,
    set_default,
    min_steps,
    keep_worse,
    seed,
    workers,
    device,
    as_json,
    quiet,
):
    """Teach the captioner your own words from a CSV of captioned photos.

    \b
    By default the default model is fine-tuned: it keeps its vocabulary, gains the
    new captions' frequent words, and its decoder trains on cached encoder features.
    Validation BLEU-4/CIDEr/loss are printed each epoch; the epoch with the lowest
    validation loss is kept. A few photos are enough: the epochs span at least
    --min-steps optimiser steps, new words start from the words they stand in for,
    and (--tune words) the base's attention and recurrence stay as they are.
    Ctrl-C saves and stops; run the same command with --resume to continue.

    \b
    Then the held-out photos judge it, each figure with a 95% interval:
      learned your captions  their loss per word fell from the base model's;
      uses the photos        it predicts them better from their own photo than
                             from another (captions shuffled between photos fail);
      content                CIDEr-D of its captions (weights from your captions
                             and Flickr8k's) did not surely lose a quarter of the base's.
    When one fails, no model is written: the base keeps captioning as it did, the
    exit code is 3 and the output says why. --keep-worse writes it anyway (add
    --resume to a finished run to write it without training again). With 50 or
    more validation photos the model also gets its own confidence curve.

    \b
    Examples:
      photocap train --data products.csv
      photocap train --from-index --under ~/Pictures/shop
      photocap train --data family.csv --images ~/Pictures --set-default
      photocap train --data plants.csv --scratch --encoder resnet50 --epochs 30
    """
    from photocap.training.finetune import FinetuneOptions, finetune
    from photocap.training.train import TrainingInterrupted

    if from_index == (data is not None):
        raise click.UsageError("give either --data CSV or --from-index")
    if not from_index and under is not None:
        raise click.UsageError("--under chooses photos of the index: use it with --from-index")
    if from_index and images_dir is not None:
        raise click.UsageError("--images is for a CSV's relative paths, not --from-index")
    if from_index:
        from photocap.training.index_data import export_captions

        data, count = export_captions(db_url, under)
        if not quiet:
            click.echo(f"{count} photos with a person's caption in the index ({data})", err=True)
    if (encoder or encoder_weights) and not scratch:
        raise click.UsageError(
            "--encoder/--encoder-weights choose the backbone of a --scratch model; "
            "a fine-tuned model keeps its base model's encoder"
        )
    if base and scratch:
        raise click.UsageError("--base and --scratch exclude each other")
    options = FinetuneOptions(
        data=data,
        images_dir=images_dir,
        val=val,
        val_fraction=val_fraction,
        out=out,
        base=base,
        scratch=scratch,
        encoder=encoder or "efficientnet_lite2",
        encoder_weights=encoder_weights,
        fine_tune_encoder=fine_tune_encoder,
        tune=tune,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        patience=patience,
        min_word_count=min_word_count,
        strict=strict,
        cache_dir=cache_dir,
        resume=resume,
        seed=seed,
        device=device,
        workers=workers,
        set_default=set_default,
        min_steps=min_steps,
        keep_worse=keep_worse,
    )
    from photocap.cli._train_progress import StopOnCtrlC, TrainProgress

    stop = StopOnCtrlC(lambda text: click.echo(text, err=True))
    reporter = TrainProgress(stop, quiet)
    try:
        with stop:
            result = finetune(options, reporter)
    except TrainingInterrupted as exc:
        reporter.close()
        click.echo(
            f"Interrupted: {exc.message} in {exc.path}; run the same command with --resume "
            "to continue",
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        reporter.close()
        click.echo("Interrupted (features computed so far are cached)", err=True)
        sys.exit(EXIT_INTERRUPTED)
    finally:
        reporter.close()
    _report(result, as_json)
    if result.model_path is None:
        sys.exit(EXIT_NOT_BETTER)


def _report(result, as_json: bool) -> None:
    report = result.report
    if as_json:
        summary = {
            "model": report.model,
            "improved": report.improved,
            "steps": report.steps,
            "metrics": str(result.metrics_path),
            "plot": str(result.plot_path),
            "best_epoch": report.best_epoch,
            "epochs": len(report.epochs) - (1 if report.base_best else 0),
            "val": report.best,
            "base_val": report.base_best,
            "judgement": report.judgement,
            "confidence": report.confidence,
            "train_images": report.train_images,
            "val_images": report.val_images,
            "words_added": report.words_added,
            "skipped": len(report.skipped),
            "default": str(result.default_path) if result.default_path else None,
            "seconds": report.seconds,
        }
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    best = report.best
    base = f" (base model: {report.base_best['CIDEr']:.3f})" if report.base_best else ""
    click.echo(
        f"best epoch {report.best_epoch} ({report.steps} steps): "
        f"val CIDEr {best['CIDEr']:.3f}{base}, BLEU-4 {best['BLEU-4']:.3f}"
    )
    if result.judgement is not None:
        for line in result.judgement.lines():
            click.echo(line)
    click.echo(_confidence_line(report.confidence))
    if not report.improved:
        reasons = "; ".join(result.judgement.reasons()) if result.judgement else ""
        click.echo(
            f"NOT BETTER than the base model: {reasons}; "
            + (
                "written anyway (--keep-worse)."
                if result.model_path
                else "no model written, the base model stays as it is "
                "(--keep-worse --resume writes this one without training again)."
            )
        )
    click.echo(f"model: {result.model_path or 'none written'}")
    if report.words_added:
        quoted = [f'"{w}"' for w in report.words_added[:12]]  # a comma may be one of them
        shown = ", ".join(quoted) + (" …" if len(report.words_added) > 12 else "")
        click.echo(f"new words ({len(report.words_added)}): {shown}")
    if report.skipped:
        click.echo(f"skipped: {len(report.skipped)} rows/photos (listed above)")
    click.echo(f"metrics: {result.metrics_path}, plot: {result.plot_path}")
    if result.default_path:
        click.echo(f"now the default model ({result.default_path})")
    elif result.model_path:
        click.echo(f"use it: photocap caption --model {result.model_path} PHOTO")


def _confidence_line(confidence: dict) -> str:
    from photocap.training.calibration import MIN_PHOTOS

    if confidence["own"]:
        return f"confidence: its own curve, fitted on its {confidence['photos']} validation photos"
    return (
        f"confidence: the base model's curve (only {confidence['photos']} validation photos; "
        f"{MIN_PHOTOS} needed to fit its own)"
    )
