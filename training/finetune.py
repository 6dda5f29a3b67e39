"""`photocap train`: teach the captioner a user's own words from an `image,caption` CSV.

Fine-tune (default): start from a model file, keep its vocabulary and add the new captions'
frequent words, train the decoder on cached frozen-encoder features with a lower learning rate.
Retrain (`scratch`): a new vocabulary and decoder on an ImageNet encoder. Either way the result
is a model file in the shipped format, with `<model>.metrics.json` and a plot beside it.

The run, in named phases: `_start` (the model it starts from), `_read` (usable photos, features,
the validation split), `_decoder` (vocabulary and decoder), `_train`, `_judge` (is it better than
the base? `photocap.training.judge`), `_confidence` (its own confidence curve,
`photocap.training.calibration`) and `_write`. One `TrainReport` records it all: the model file's
metadata, `metrics.json` and the CLI's `--json` are all made from it.

Small collections: the epochs span at least `min_steps` optimiser steps; new words start from the
words the base model expects in their place and learn `new_words_lr_scale` times faster; with
`tune="words"` (the default) the base's attention and recurrence stay as they are. The best epoch
is the one with the lowest validation loss.

Not better than the base (the judgement's reasons say why): no model is written unless
`keep_worse`; the metrics and plot are written, and `--set-default` changes nothing. Rerun with
`keep_worse` and `resume` to save it without training again.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from photocap.training.checkpoints import EpochRecord, TrainState
from photocap.training.features import FeatureCache, encoder_fingerprint
from photocap.training.finetune_steps import (
    Run,
    build_decoder,
    fingerprint_of,
    judge_run,
    own_confidence,
    read_data,
    train_config,
    train_run,
)
from photocap.training.judge import Judgement
from photocap.training.prepare import check_run
from photocap.training.report import TrainReport, metrics_paths, plot_history, write_json

from photocap.captioner import resolve_device
from photocap.errors import PhotocapError
from photocap.model.checkpoint import ModelInfo, load_model, save_model
from photocap.model.encoders import load_pretrained_encoder
from photocap.model.transforms import TRAINING_SQUARE
from photocap.paths import data_dir, default_model_path, new_file


@dataclass
class FinetuneOptions:
    """Everything `photocap train` can be told; None means the mode's default."""

    data: Path
    images_dir: Path | None = None
    val: Path | None = None
    val_fraction: float | None = None  # default: 10%, at least 20 photos (at most 30%)
    out: Path | None = None  # default: <data dir>/models/<csv name>.safetensors
    base: Path | None = None  # default: the default model
    scratch: bool = False
    encoder: str = "efficientnet_lite2"  # with scratch
    encoder_weights: Path | None = None
    fine_tune_encoder: bool = False
    tune: str = "words"  # fine-tuning: "words" keeps the base's attention and recurrence; "all"
    epochs: int | None = None  # 10 fine-tuning, 20 from scratch
    batch_size: int = 32
    lr: float | None = None  # 2e-4 fine-tuning, 4e-4 from scratch; the encoder gets a tenth
    patience: int = 3  # epochs without a better validation loss before stopping
    min_word_count: int = 2
    strict: bool = False
    cache_dir: Path | None = None  # default: <data dir>/cache/features
    resume: bool = False
    seed: int = 0
    device: str = "auto"
    workers: int = 1
    set_default: bool = False
    min_steps: int = 150  # the epochs span this many steps at least (small data: several passes)
    new_words_lr_scale: float = 10.0  # new words' rows learn this much faster (fine-tuning)
    min_lr_fraction: float = 0.05  # the LR never decays below this share of its start
    keep_worse: bool = False  # write the model even when it is not better than the base


class TrainEvents:
    """What a run reports while it works; the CLI overrides these to draw progress."""

    def message(self, text: str) -> None:
        """A line worth showing (data summary, skipped files, resume point)."""

    def features(self, done: int, total: int) -> None:
        """Encoder features computed for `done` of the `total` photos not cached yet."""

    def baseline(self, record: EpochRecord) -> None:
        """The starting model scored on the validation photos (epoch 0), before any training."""

    def plan(self, epochs: int, steps: int, captions: int, batch_size: int) -> None:
        """At most `epochs` epochs of `steps` optimiser steps over `captions` training captions."""

    def epoch_start(self, epoch: int, epochs: int, steps: int, done: int) -> None:
        """An epoch begins (`done` > 0: resumed inside it)."""

    def step(self, step: int, steps: int, loss: float, captions: int) -> None:
        """A training step finished; `captions` in its batch."""

    def epoch_end(self, record: EpochRecord, best: bool) -> None:
        """An epoch finished and was validated."""

    def should_stop(self) -> bool:
        """True to save and stop after the current step (e.g. Ctrl-C)."""
        return False


@dataclass
class FinetuneResult:
    """What a run made: the report, and where its files are."""

    report: TrainReport
    model_path: Path | None  # None: not better than the base, and not `keep_worse`
    metrics_path: Path
    plot_path: Path
    state: TrainState
    base: EpochRecord | None  # the starting model scored on the validation photos (epoch 0)
    judgement: Judgement | None  # None: from scratch (no base to weigh it against)
    default_path: Path | None = None
    skipped: list = field(default_factory=list)

    @property
    def improved(self) -> bool:
        return self.report.improved


def _slug(path: Path) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-") or "captions"


def default_out(data: Path) -> Path:
    return data_dir() / "models" / f"{_slug(data)}.safetensors"


def run_dir(out: Path) -> Path:
    """Checkpoints of the run that makes `out`: `plants.safetensors` → `plants.run/`."""
    return out.with_suffix(".run")


def _install_default(model: Path) -> Path:
    target = data_dir() / "default-model.safetensors"
    with new_file(target) as tmp:
        shutil.copyfile(model, tmp)
    return target


def _start(options: FinetuneOptions, device: torch.device) -> Run:
    """The model the run starts from: a base model file, or an ImageNet encoder (scratch)."""
    if options.tune not in ("words", "all"):
        raise PhotocapError(f"unknown --tune {options.tune!r}: 'words' or 'all'")
    if options.scratch:
        encoder = load_pretrained_encoder(options.encoder, options.encoder_weights)
        run = Run(options, device, encoder.to(device).eval(), None, None, None)
    else:
        loaded = load_model(Path(options.base) if options.base else default_model_path())
        encoder = loaded.encoder.to(device).eval()
        run = Run(options, device, encoder, loaded.info, loaded.decoder, loaded.model_id)
    # photos reach the encoder exactly as `photocap caption` will show them to this model
    run.square = run.base_info.data_square if run.base_info else TRAINING_SQUARE
    if not options.fine_tune_encoder:
        root = options.cache_dir or data_dir() / "cache" / "features"
        tag = f"{encoder_fingerprint(run.encoder)}-via{run.square or 0}"
        run.cache = FeatureCache(root, run.encoder, tag=tag)
    return run


def finetune(options: FinetuneOptions, events: TrainEvents | None = None) -> FinetuneResult:
    """Run `photocap train`: read the data, train, judge, write the model, metrics and plot."""
    events = events or TrainEvents()
    started = time.monotonic()
    run = _start(options, resolve_device(options.device))
    read_data(run, events)
    build_decoder(run, events)
    run.config = train_config(run)
    out = Path(options.out) if options.out else default_out(options.data)
    work = run_dir(out)
    work.mkdir(parents=True, exist_ok=True)
    resuming = check_run(work, fingerprint_of(run), options, events)
    state = train_run(run, work, resuming, events)
    judgement = judge_run(run) if run.base_view is not None else None
    improved = judgement is None or judgement.better
    written = improved or options.keep_worse
    info = _model_info(run, state)
    confidence = own_confidence(run, info)
    info.metrics["confidence"] = confidence.curve.to_dict()
    if written:
        save_model(out, info, run.encoder, run.decoder.cpu())
    metrics_path, plot_path = metrics_paths(out)
    plot_history(plot_path, state.history, run.base_record, state.best_epoch)
    report = TrainReport.of(
        run, state, info, judgement, confidence, out if written else None, improved, started
    )
    write_json(metrics_path, report.to_dict())
    default = _install_default(out) if options.set_default and written else None
    return FinetuneResult(
        report,
        out if written else None,
        metrics_path,
        plot_path,
        state,
        run.base_record,
        judgement,
        default,
        run.skipped,
    )


def _model_info(run: Run, state: TrainState) -> ModelInfo:
    """The model file's metadata: what it is, how it was trained, its validation figures."""
    options, base_info = run.options, run.base_info
    name = (
        f"{base_info.name}+{_slug(options.data)}"
        if base_info
        else f"photocap-{run.encoder.spec.name}-{_slug(options.data)}"
    )
    best = state.history[state.best_epoch - 1]
    metrics: dict = {"val_quick": {"BLEU-4": best.val_bleu4, "CIDEr": best.val_cider}}
    if run.base_record:
        metrics["base_val_quick"] = {
            "BLEU-4": run.base_record.val_bleu4,
            "CIDEr": run.base_record.val_cider,
        }
    return ModelInfo(
        name=name,
        encoder=run.encoder.spec.name,
        decoder=run.decoder.config,
        vocabulary=run.vocab,
        data_square=run.square,
        training={
            "recipe": "photocap train" + (" --scratch" if options.scratch else ""),
            "base": run.base_id,
            "data": options.data.name,
            "train_images": len(run.train_set.keys),
            "val_images": len(run.val_set.keys),
            "train_captions": len(run.captions),
            "words_added": run.words_added if base_info else len(run.words_added),
            "fine_tune_encoder": options.fine_tune_encoder,
            "tune": "all" if options.scratch else options.tune,
            "config": run.config_dict(),
            "best_epoch": state.best_epoch,
            "history": [vars(h) for h in state.history],
            "parent": base_info.training if base_info else None,
        },
        metrics=metrics,
    )
