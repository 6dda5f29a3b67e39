"""`photocap train`: teach the captioner a user's own words from an `image,caption` CSV.

Fine-tune (default): start from a model file, keep its vocabulary and add the new captions'
frequent words, train the decoder on cached frozen-encoder features with a lower learning rate.
Retrain (`scratch`): a new vocabulary and decoder on an ImageNet encoder. Either way the result
is a model file in the shipped format, with `<model>.metrics.json` and a plot beside it.

Small collections: the epochs span at least `min_steps` optimiser steps (an epoch then makes
several passes over the captions; early stopping may end the run sooner); new words start from
the words the base model expects in their place and learn `new_words_lr_scale` times faster
(training/new_words.py); with `tune="words"` (the default) the base's attention and recurrence
stay as they are (`AttentionDecoder.freeze_recurrence`); the LR decays only when neither
validation CIDEr nor validation loss improved, never below `min_lr_fraction` of its start.

Not better than the base: when the best epoch's validation CIDEr does not beat the base model's
(epoch 0; on a tie, its validation loss decides), no model is written unless `keep_worse` (the
result says so: `improved` is False and `model_path` None; the metrics and plot are written, and
`--set-default` changes nothing): using the base model keeps its behaviour. Rerun with
`keep_worse` and `resume` to save it without training again.
"""

from __future__ import annotations

import functools
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from photocap.training.features import FeatureCache, encoder_fingerprint
from photocap.training.new_words import init_from_context
from photocap.training.prepare import (
    PreparedData,
    caption_set,
    check_run,
    file_digest,
    refuse_or_report,
    usable_photos,
)
from photocap.training.report import history_rows, metrics_paths, plot_history, write_json
from photocap.training.train import (
    EpochRecord,
    TrainConfig,
    TrainState,
    better_than,
    evaluate_decoder,
    read_resume_state,
    steps_per_epoch,
    train_decoder,
    validation_loss,
)
from photocap.training.user_data import (
    Problem,
    read_caption_csv,
    split_by_image,
)
from photocap.training.user_images import (
    LiveFeatures,
    encoder_tail,
)
from photocap.training.vocab_growth import extend_decoder

from photocap.captioner import resolve_device
from photocap.errors import DataError, PhotocapError
from photocap.model.checkpoint import ModelInfo, load_model, save_model
from photocap.model.decoder import AttentionDecoder, DecoderConfig
from photocap.model.encoders import load_pretrained_encoder
from photocap.model.transforms import TRAINING_SQUARE, to_tensor
from photocap.model.vocab import Vocabulary
from photocap.paths import data_dir, default_model_path, new_file


@dataclass
class FinetuneOptions:
    """Everything `photocap train` can be told; None means the mode's default."""

    data: Path
    images_dir: Path | None = None
    val: Path | None = None
    val_fraction: float = 0.1
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
    patience: int = 3  # epochs without a better val CIDEr before stopping
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
    model_path: Path | None  # None: not better than the base, and not `keep_worse`
    metrics_path: Path
    plot_path: Path
    state: TrainState
    base: EpochRecord | None  # the starting model scored on the validation images (epoch 0)
    words_added: list[str]
    vocabulary_size: int
    train_images: int
    val_images: int
    train_captions: int
    skipped: list[Problem] = field(default_factory=list)
    default_path: Path | None = None
    seconds: float = 0.0
    improved: bool = True  # best validation CIDEr above the base model's (always, from scratch)
    steps: int = 0  # optimiser steps taken
    started_from: dict[str, list[str]] = field(default_factory=dict)  # new word → old words


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


def finetune(options: FinetuneOptions, events: TrainEvents | None = None) -> FinetuneResult:
    """Run `photocap train`: read the data, train, write the model, metrics and plot."""
    events = events or TrainEvents()
    started = time.monotonic()
    if options.tune not in ("words", "all"):
        raise PhotocapError(f"unknown --tune {options.tune!r}: 'words' or 'all'")
    device = resolve_device(options.device)
    out = Path(options.out) if options.out else default_out(options.data)
    train_data = read_caption_csv(options.data, options.images_dir, options.strict)
    val_data = (
        read_caption_csv(options.val, options.images_dir, options.strict) if options.val else None
    )

    if options.scratch:
        encoder = load_pretrained_encoder(options.encoder, options.encoder_weights)
        base_info, base_decoder, base_id = None, None, None
    else:
        base_path = Path(options.base) if options.base else default_model_path()
        loaded = load_model(base_path)
        encoder, base_info, base_decoder, base_id = (
            loaded.encoder,
            loaded.info,
            loaded.decoder,
            loaded.model_id,
        )
    encoder = encoder.to(device).eval()
    # photos reach the encoder exactly as `photocap caption` will show them to this model
    square = base_info.data_square if base_info else TRAINING_SQUARE
    cache = None
    if not options.fine_tune_encoder:
        root = options.cache_dir or data_dir() / "cache" / "features"
        tag = f"{encoder_fingerprint(encoder)}-via{square or 0}"
        cache = FeatureCache(root, encoder, tag=tag)

    parts = [usable_photos(train_data, encoder, square, options, cache, events)]
    if val_data is not None:
        parts.append(usable_photos(val_data, encoder, square, options, cache, events))
    skipped = refuse_or_report(parts, options, events)
    if val_data is None:
        train_idx, val_idx = split_by_image(len(parts[0].data), options.val_fraction, options.seed)
        whole = parts[0]
        train = PreparedData(whole.data.subset(train_idx), [whole.shas[i] for i in train_idx], [])
        val = PreparedData(whole.data.subset(val_idx), [whole.shas[i] for i in val_idx], [])
    else:
        train, val = parts
        shared = set(train.shas) & set(val.shas)
        if shared:
            i = val.shas.index(next(iter(shared)))
            raise DataError(
                f"{len(shared)} validation image(s) are also in the training data, "
                f"e.g. {val.data.names[i]} (line {val.data.lines[i][0]})",
                path=options.val,
                hint="validation photos must be held out from training",
            )
    train_set, val_set = caption_set(train.data, train.shas), caption_set(val.data, val.shas)
    captions = [c for refs in train_set.references for c in refs]

    if base_info is not None:
        vocab = base_info.vocabulary.extended(captions, options.min_word_count, punctuation=True)
        decoder = extend_decoder(base_decoder, len(vocab), seed=options.seed)
        words_added = list(vocab.words[len(base_info.vocabulary) :])
    else:
        vocab = Vocabulary.build(captions, options.min_word_count, punctuation=True)
        torch.manual_seed(options.seed)
        decoder = AttentionDecoder(DecoderConfig(len(vocab), encoder.spec.feature_dim))
        words_added = list(vocab.words[4:])
    decoder = decoder.to(device)
    if base_info is not None and options.tune == "words":
        decoder.freeze_recurrence()
    events.message(
        f"{len(train_set.keys)} training photos ({len(captions)} captions), "
        f"{len(val_set.keys)} validation photos; vocabulary {len(vocab)} words"
        + (f", {len(words_added)} new" if base_info is not None else "")
    )

    lr = options.lr or (4e-4 if options.scratch else 2e-4)
    epochs = options.epochs or (20 if options.scratch else 10)
    config = TrainConfig(
        epochs=epochs,
        batch_size=options.batch_size,
        lr=lr,
        early_stop=options.patience,
        seed=options.seed,
        min_steps=options.min_steps,
        min_lr_fraction=options.min_lr_fraction,
        plateau_on_loss=True,
        new_rows_from=len(base_info.vocabulary) if base_info and words_added else None,
        new_rows_lr_scale=options.new_words_lr_scale if base_info else 1.0,
    )
    trained = [p for p in decoder.parameters() if p.requires_grad]
    groups: list[dict] = [{"params": trained, "lr": lr}]
    if options.fine_tune_encoder:
        for p in encoder.parameters():
            p.requires_grad_(False)
        tail = [p for m in encoder_tail(encoder) for p in m.parameters()]
        for p in tail:
            p.requires_grad_(True)
        groups.append({"params": tail, "lr": lr / 10})
        prepare = functools.partial(to_tensor, spec=encoder.spec, via=square)
        side = square or encoder.spec.input_size
        train_features = LiveFeatures(encoder, train.data.images, prepare, side)
        val_features = LiveFeatures(encoder, val.data.images, prepare, side)
    else:
        train_features, val_features = cache.load(train.shas), cache.load(val.shas)

    fingerprint = {
        "data": file_digest(options.data),
        "val": file_digest(options.val),
        "images": str(options.images_dir) if options.images_dir else None,
        "base": base_id,
        "mode": "scratch" if options.scratch else "fine-tune",
        "encoder": encoder.spec.name,
        "fine_tune_encoder": options.fine_tune_encoder,
        "tune": "all" if options.scratch else options.tune,
        "val_fraction": options.val_fraction,
        "min_word_count": options.min_word_count,
        "vocabulary": len(vocab),
        "config": {k: v for k, v in asdict(config).items() if k not in ("epochs", "early_stop")},
    }
    work = run_dir(out)
    work.mkdir(parents=True, exist_ok=True)
    resuming = check_run(work, fingerprint, options, events)

    base_record = None
    if base_info is not None:
        scores, _ = evaluate_decoder(decoder, val_features, val_set, vocab, config.eval_beam)
        base_record = EpochRecord(0, 0.0, scores["BLEU-4"], scores["CIDEr"], 0.0, 0.0)
        base_record.val_loss = validation_loss(decoder, val_features, val_set, vocab, 30)
        events.baseline(base_record)
    started_from = {}
    if base_info is not None and words_added and not resuming:
        started_from = init_from_context(
            decoder, vocab, len(base_info.vocabulary), train_features, train_set
        )
        shown = [f'"{w}" ← {" ".join(old[:2])}' for w, old in list(started_from.items())[:8]]
        events.message("new words start from the words the base expects there: " + ", ".join(shown))
    steps = steps_per_epoch(len(captions), config)
    events.plan(epochs, steps, len(captions), config.batch_size)

    previous = read_resume_state(work) if resuming else None
    best_so_far = (
        previous.history[previous.best_epoch - 1] if previous and previous.best_epoch else None
    )
    if previous:
        where = f", step {previous.step}" if previous.step else ""
        events.message(f"resuming {work} at epoch {previous.epoch + 1}{where}")
        for record in previous.history:
            events.epoch_end(record, record.epoch == previous.best_epoch)

    def on_epoch(record: EpochRecord) -> None:
        nonlocal best_so_far
        improved = better_than(record, best_so_far)
        best_so_far = record if improved else best_so_far
        events.epoch_end(record, improved)

    def on_epoch_start(epoch: int, steps: int, done: int) -> None:
        events.epoch_start(epoch, epochs, steps, done)

    one_pass = -(-len(captions) // config.batch_size)  # else every batch is full
    last_batch = len(captions) - (one_pass - 1) * config.batch_size
    last_batch = last_batch if steps == one_pass else config.batch_size
    state = train_decoder(
        decoder,
        vocab,
        train_features,
        train_set,
        val_features,
        val_set,
        config,
        work,
        resume=resuming,
        on_step=lambda s, n, loss: events.step(
            s, n, loss, config.batch_size if s < n else last_batch
        ),
        on_epoch=on_epoch,
        trainable=groups,
        encoder=encoder if options.fine_tune_encoder else None,
        should_stop=events.should_stop,
        on_epoch_start=on_epoch_start,
    )

    name = (
        f"{base_info.name}+{_slug(options.data)}"
        if base_info
        else f"photocap-{encoder.spec.name}-{_slug(options.data)}"
    )
    history = [asdict(h) for h in state.history]
    info = ModelInfo(
        name=name,
        encoder=encoder.spec.name,
        decoder=decoder.config,
        vocabulary=vocab,
        data_square=square,
        training={
            "recipe": "photocap train" + (" --scratch" if options.scratch else ""),
            "base": base_id,
            "data": options.data.name,
            "train_images": len(train_set.keys),
            "val_images": len(val_set.keys),
            "train_captions": len(captions),
            "words_added": words_added if base_info else len(words_added),
            "fine_tune_encoder": options.fine_tune_encoder,
            "tune": fingerprint["tune"],
            "config": asdict(config),
            "best_epoch": state.best_epoch,
            "history": history,
            "parent": base_info.training if base_info else None,
        },
        metrics={
            "val_quick": {
                "BLEU-4": state.history[state.best_epoch - 1].val_bleu4,
                "CIDEr": state.best_cider,
            },
            **(
                {
                    "base_val_quick": {
                        "BLEU-4": base_record.val_bleu4,
                        "CIDEr": base_record.val_cider,
                    }
                }
                if base_record
                else {}
            ),
        },
    )
    improved = base_record is None or better_than(state.history[state.best_epoch - 1], base_record)
    written = improved or options.keep_worse
    if written:
        save_model(out, info, encoder, decoder.cpu())
    metrics_path, plot_path = metrics_paths(out)
    plot_history(plot_path, state.history, base_record, state.best_epoch)
    seconds = time.monotonic() - started
    write_json(
        metrics_path,
        {
            "model": str(out) if written else None,
            "improved": improved,
            "name": name,
            "base": base_id,
            "mode": fingerprint["mode"],
            "data": str(options.data),
            "train_images": len(train_set.keys),
            "val_images": len(val_set.keys),
            "train_captions": len(captions),
            "skipped": [asdict(p) for p in skipped],
            "vocabulary": len(vocab),
            "words_added": words_added,
            "config": asdict(config),
            "epochs": history_rows(state.history, base_record),
            "best_epoch": state.best_epoch,
            "best": info.metrics["val_quick"],
            "base_best": info.metrics.get("base_val_quick"),
            "steps": state.epoch * steps,
            "new_words_started_from": started_from,
            "seconds": round(seconds, 1),
        },
    )
    default = _install_default(out) if options.set_default and written else None
    return FinetuneResult(
        out if written else None,
        metrics_path,
        plot_path,
        state,
        base_record,
        words_added,
        len(vocab),
        len(train_set.keys),
        len(val_set.keys),
        len(captions),
        skipped,
        default,
        seconds,
        improved,
        state.epoch * steps,
        started_from,
    )
