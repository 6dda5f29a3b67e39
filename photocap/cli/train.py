"""`photocap train --data my.csv`: fine-tune (or retrain) the captioner on a user's own captions."""

from __future__ import annotations

import json
import math
import signal
import sys
import time
from pathlib import Path

import click

from photocap.cli import cli
from photocap.cli._options import (
    batch_size_option,
    db_option,
    device_option,
    json_option,
    workers_option,
)
from photocap.model import ENCODER_NAMES

TABLE_HEADER = (
    f"{'epoch':>5}  {'loss':>7}  {'val BLEU-4':>10}  {'val CIDEr':>9}  {'val loss':>8}  "
    f"{'lr':>8}  {'time':>6}"
)
PLAIN_PROGRESS_EVERY = 60.0  # seconds between progress lines when stderr is not a terminal
NOT_BETTER_EXIT = 3  # the run finished but its model is not better than the base: none written


def _row(record, best: bool, base: bool = False) -> str:
    loss = "-" if base else f"{record.loss:.3f}"
    lr = "-" if base else f"{record.lr:.2e}"
    seconds = "-" if base else f"{record.seconds:.0f}s"
    mark = "  (base model)" if base else ("  *" if best else "")
    val_loss = "-" if record.val_loss is None else f"{record.val_loss:.3f}"
    return (
        f"{record.epoch:>5}  {loss:>7}  {record.val_bleu4:>10.4f}  {record.val_cider:>9.4f}  "
        f"{val_loss:>8}  {lr:>8}  {seconds:>6}{mark}"
    )


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class _StopOnCtrlC:
    """First Ctrl-C asks the run to save and stop after the current step; a second one aborts."""

    def __init__(self, say):
        self.requested = False
        self.say = say
        self.previous = None

    def __enter__(self):
        self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self.previous)

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.say("Ctrl-C: saving and stopping after this step (press again to abort at once)")


def _reporter(stop: _StopOnCtrlC, quiet: bool):
    """TrainEvents drawing rich progress bars on a terminal, plain lines elsewhere (all on stderr)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from photocap.training.finetune import TrainEvents

    console = Console(stderr=True, highlight=False)
    live = console.is_terminal and not quiet

    class Reporter(TrainEvents):
        def __init__(self):
            self.progress = (
                Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"),
                    TimeElapsedColumn(),
                    TextColumn("eta"),
                    TimeRemainingColumn(),
                    console=console,
                    transient=True,
                )
                if live
                else None
            )
            self.task = None
            self.table_started = False
            self.loss_sum, self.loss_steps, self.captions, self.t0 = 0.0, 0, 0, 0.0
            self.epoch, self.epochs, self.steps = 0, 0, 0
            self.run_t0, self.run_steps, self.last_line = None, 0, 0.0

        def say(self, text: str) -> None:
            if not quiet:
                console.print(text, markup=False, soft_wrap=True)

        def message(self, text: str) -> None:
            self.say(text)

        def _bar(self, description: str, total: int, done: int = 0) -> None:
            if self.progress is None:
                return
            if self.task is not None:
                self.progress.remove_task(self.task)
            self.progress.start()
            self.task = self.progress.add_task(description, total=total, completed=done, info="")

        def features(self, done: int, total: int) -> None:
            if self.progress is None:
                return
            if self.task is None:
                self._bar("features", total)
            self.progress.update(self.task, completed=done)
            if done >= total:
                self.progress.remove_task(self.task)
                self.task = None

        def baseline(self, record) -> None:
            self.table(record, False, base=True)

        def plan(self, epochs: int, steps: int, captions: int, batch_size: int) -> None:
            passes = steps * batch_size / captions
            each = "one pass" if passes <= 1 else f"{passes:.1f} passes"
            self.say(
                f"training: up to {epochs} epochs of {steps} steps ({each} over {captions} "
                f"captions in batches of {batch_size}), validated after each"
            )

        def epoch_start(self, epoch: int, epochs: int, steps: int, done: int) -> None:
            self.loss_sum, self.loss_steps, self.captions = 0.0, 0, 0
            self.t0 = time.monotonic()
            self.epoch, self.epochs, self.steps = epoch, epochs, steps
            if self.run_t0 is None:
                self.run_t0, self.last_line = self.t0, self.t0
            self._bar(f"epoch {epoch}/{epochs}", steps, done)

        def _run_eta(self, step: int) -> str:
            """Time left if every remaining epoch runs (early stopping may end sooner)."""
            elapsed = time.monotonic() - self.run_t0
            left = (self.epochs - self.epoch) * self.steps + self.steps - step
            return _duration(elapsed / max(self.run_steps, 1) * left)

        def step(self, step: int, steps: int, loss: float, captions: int) -> None:
            self.loss_sum += loss
            self.loss_steps += 1
            self.captions += captions
            self.run_steps += 1
            now = time.monotonic()
            rate = self.captions / max(now - self.t0, 1e-6)
            loss_text = f"loss {self.loss_sum / self.loss_steps:.3f}  {rate:.1f} captions/s"
            if self.progress is not None:
                info = f"{loss_text}  run eta {self._run_eta(step)}"
                self.progress.update(self.task, completed=step, info=info)
            elif now - self.last_line >= PLAIN_PROGRESS_EVERY and step < steps:
                self.last_line = now
                self.say(
                    f"  epoch {self.epoch}/{self.epochs} step {step}/{steps}: {loss_text}, "
                    f"epoch eta {_duration((now - self.t0) / self.loss_steps * (steps - step))}, "
                    f"run eta at most {self._run_eta(step)}"
                )

        def epoch_end(self, record, best: bool) -> None:
            if self.progress is not None and self.task is not None:
                self.progress.remove_task(self.task)
                self.task = None
            self.table(record, best)

        def table(self, record, best: bool, base: bool = False) -> None:
            if not self.table_started:
                self.say(TABLE_HEADER)
                self.table_started = True
            self.say(_row(record, best, base))

        def should_stop(self) -> bool:
            return stop.requested

        def close(self) -> None:
            if self.progress is not None:
                self.progress.stop()

    return Reporter()


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
    default=0.1,
    show_default=True,
    help="Share of the photos held out for validation.",
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
    help="Stop after this many epochs without a better validation CIDEr.",
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
    help="Write the model even when it is not better than the base model on the validation "
    "photos (CIDEr; on a tie, loss) "
    f"(else none is written and the exit code is {NOT_BETTER_EXIT}).",
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
    Validation BLEU-4/CIDEr are printed each epoch; the best epoch is kept.
    A few photos are enough: the epochs span at least --min-steps optimiser
    steps, new words start from the words they stand in for, and (--tune words)
    the base's attention and recurrence stay as they are.
    Ctrl-C saves and stops; run the same command with --resume to continue.

    \b
    When the best epoch is not better than the base model on the validation
    photos (CIDEr; on a tie, loss), no model is written: the base keeps captioning as it did,
    the exit code is 3 and the metrics say why. --keep-worse writes it anyway
    (add --resume to a finished run to write it without training again).

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
    stop = _StopOnCtrlC(lambda text: click.echo(text, err=True))
    reporter = _reporter(stop, quiet)
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
        sys.exit(130)
    except KeyboardInterrupt:
        reporter.close()
        click.echo("Interrupted (features computed so far are cached)", err=True)
        sys.exit(130)
    finally:
        reporter.close()
    _report(result, as_json)
    if result.model_path is None:
        sys.exit(NOT_BETTER_EXIT)


def _report(result, as_json: bool) -> None:
    best = result.state.history[result.state.best_epoch - 1]
    summary = {
        "model": str(result.model_path) if result.model_path else None,
        "improved": result.improved,
        "steps": result.steps,
        "metrics": str(result.metrics_path),
        "plot": str(result.plot_path),
        "best_epoch": result.state.best_epoch,
        "epochs": result.state.epoch,
        "val": {"BLEU-4": best.val_bleu4, "CIDEr": best.val_cider},
        "base_val": (
            {"BLEU-4": result.base.val_bleu4, "CIDEr": result.base.val_cider}
            if result.base
            else None
        ),
        "train_images": result.train_images,
        "val_images": result.val_images,
        "words_added": result.words_added,
        "skipped": len(result.skipped),
        "default": str(result.default_path) if result.default_path else None,
        "seconds": round(result.seconds, 1),
    }
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    base = (
        f" (base model: {result.base.val_cider:.3f})"
        if result.base and not math.isnan(result.base.val_cider)
        else ""
    )
    click.echo(f"model: {result.model_path or 'none written'}")
    click.echo(
        f"best epoch {result.state.best_epoch} of {result.state.epoch} ({result.steps} steps): "
        f"val CIDEr {best.val_cider:.3f}{base}, BLEU-4 {best.val_bleu4:.3f}"
    )
    if not result.improved:
        click.echo(
            "NOT BETTER than the base model on the validation photos: "
            + (
                "written anyway (--keep-worse)."
                if result.model_path
                else "no model written, the base model stays as it is "
                "(--keep-worse --resume writes this one without training again)."
            )
        )
    if result.words_added:
        quoted = [f'"{w}"' for w in result.words_added[:12]]  # a comma may be one of them
        shown = ", ".join(quoted) + (" …" if len(result.words_added) > 12 else "")
        click.echo(f"new words ({len(result.words_added)}): {shown}")
    if result.skipped:
        click.echo(f"skipped: {len(result.skipped)} rows/photos (listed above)")
    click.echo(f"metrics: {result.metrics_path}, plot: {result.plot_path}")
    if result.default_path:
        click.echo(f"now the default model ({result.default_path})")
    elif result.model_path:
        click.echo(f"use it: photocap caption --model {result.model_path} PHOTO")
