"""The phases of `photocap train` (`photocap.training.finetune` runs them in order), sharing one
`Run`: what the run starts from, its data, decoder and settings, and what it measured."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from photocap.training.calibration import MIN_PHOTOS, fit_own_curve
from photocap.training.checkpoints import EpochRecord, TrainState, read_resume_state
from photocap.training.data import CaptionSet
from photocap.training.features import FeatureCache
from photocap.training.frequencies import load_frequencies
from photocap.training.judge import (
    BaseView,
    Judgement,
    content_scores,
    judge,
    photo_losses,
    swapped_losses,
)
from photocap.training.new_words import init_from_context
from photocap.training.prepare import (
    PreparedData,
    caption_set,
    file_digest,
    refuse_or_report,
    usable_photos,
)
from photocap.training.train import (
    TrainConfig,
    better_than,
    evaluate_decoder,
    steps_per_epoch,
    train_decoder,
)
from photocap.training.user_data import split_by_image
from photocap.training.user_images import LiveFeatures, encoder_tail
from photocap.training.vocab_growth import extend_decoder

from photocap.errors import DataError
from photocap.evaluation.captions_csv import read_caption_csv
from photocap.model.beam import DecodeOptions
from photocap.model.checkpoint import LoadedModel, ModelInfo
from photocap.model.confidence import Calibration, calibration_for
from photocap.model.decoder import AttentionDecoder, DecoderConfig
from photocap.model.encoders import Encoder
from photocap.model.labels import top_class_probabilities
from photocap.model.transforms import to_tensor
from photocap.model.vocab import Vocabulary

if TYPE_CHECKING:
    from photocap.training.finetune import FinetuneOptions, TrainEvents

MIN_VALIDATION = 20  # photos held out by default at least (at most 30% of them)


@dataclass
class Confidence:
    """The confidence curve a trained model carries, and whether it was fitted on its own."""

    curve: Calibration
    own: bool
    photos: int  # validation photos it was (or would have been) fitted on


@dataclass
class Run:
    """One run's state, filled in phase by phase."""

    options: FinetuneOptions
    device: torch.device
    encoder: Encoder
    base_info: ModelInfo | None  # None: from scratch
    base_decoder: AttentionDecoder | None
    base_id: str | None
    square: int | None = None
    cache: FeatureCache | None = None
    train: PreparedData | None = None
    val: PreparedData | None = None
    skipped: list = field(default_factory=list)
    vocab: Vocabulary | None = None
    decoder: AttentionDecoder | None = None
    words_added: list[str] = field(default_factory=list)
    config: TrainConfig | None = None
    base_record: EpochRecord | None = None
    base_view: BaseView | None = None
    started_from: dict[str, list[str]] = field(default_factory=dict)
    steps: int = 0  # optimiser steps per epoch
    features: tuple[Any, Any] | None = None  # training and validation features

    @functools.cached_property
    def train_set(self) -> CaptionSet:
        assert self.train is not None
        return caption_set(self.train.data, self.train.shas)

    @functools.cached_property
    def val_set(self) -> CaptionSet:
        assert self.val is not None
        return caption_set(self.val.data, self.val.shas)

    @functools.cached_property
    def captions(self) -> list[str]:
        return [c for refs in self.train_set.references for c in refs]

    def config_dict(self) -> dict:
        assert self.config is not None
        return asdict(self.config)


def default_validation(photos: int) -> int:
    """Photos held out by default: 10%, at least MIN_VALIDATION, at most 30% (at least one)."""
    return max(1, round(photos * 0.1), min(MIN_VALIDATION, round(photos * 0.3)))


def read_data(run: Run, events: TrainEvents) -> None:
    """Usable photos and their features; the validation photos held out or read from `--val`."""
    options = run.options
    train_data = read_caption_csv(options.data, options.images_dir, options.strict)
    val_data = (
        read_caption_csv(options.val, options.images_dir, options.strict) if options.val else None
    )
    args = (run.encoder, run.square, options, run.cache, events)
    parts = [usable_photos(train_data, *args)]
    if val_data is not None:
        parts.append(usable_photos(val_data, *args))
    run.skipped = refuse_or_report(parts, options, events)
    if val_data is None:
        whole = parts[0]
        n = len(whole.data)
        fraction = options.val_fraction or default_validation(n) / n
        train_idx, val_idx = split_by_image(n, fraction, options.seed)
        run.train = PreparedData(
            whole.data.subset(train_idx), [whole.shas[i] for i in train_idx], []
        )
        run.val = PreparedData(whole.data.subset(val_idx), [whole.shas[i] for i in val_idx], [])
        return
    run.train, run.val = parts
    shared = set(run.train.shas) & set(run.val.shas)
    if shared:
        i = run.val.shas.index(next(iter(shared)))
        raise DataError(
            f"{len(shared)} validation image(s) are also in the training data, "
            f"e.g. {run.val.data.names[i]} (line {run.val.data.lines[i][0]})",
            path=options.val,
            hint="validation photos must be held out from training",
        )


def build_decoder(run: Run, events: TrainEvents) -> None:
    """The vocabulary (the base's plus the captions' frequent new words) and the decoder."""
    options, base = run.options, run.base_info
    if base is not None and run.base_decoder is not None:
        run.vocab = base.vocabulary.extended(run.captions, options.min_word_count, punctuation=True)
        run.decoder = extend_decoder(run.base_decoder, len(run.vocab), seed=options.seed)
        run.words_added = list(run.vocab.words[len(base.vocabulary) :])
    else:
        run.vocab = Vocabulary.build(run.captions, options.min_word_count, punctuation=True)
        torch.manual_seed(options.seed)
        run.decoder = AttentionDecoder(DecoderConfig(len(run.vocab), run.encoder.spec.feature_dim))
        run.words_added = list(run.vocab.words[4:])
    run.decoder = run.decoder.to(run.device)
    if base is not None and options.tune == "words":
        run.decoder.freeze_recurrence()
    events.message(
        f"{len(run.train_set.keys)} training photos ({len(run.captions)} captions), "
        f"{len(run.val_set.keys)} validation photos; vocabulary {len(run.vocab)} words"
        + (f", {len(run.words_added)} new" if base is not None else "")
    )


def train_config(run: Run) -> TrainConfig:
    options, base = run.options, run.base_info
    assert run.vocab is not None
    return TrainConfig(
        epochs=options.epochs or (20 if options.scratch else 10),
        batch_size=options.batch_size,
        lr=options.lr or (4e-4 if options.scratch else 2e-4),
        early_stop=options.patience,
        seed=options.seed,
        min_steps=options.min_steps,
        min_lr_fraction=options.min_lr_fraction,
        plateau_on_loss=True,
        select_on="cider" if options.scratch else "loss",
        new_rows_from=len(base.vocabulary) if base and run.words_added else None,
        new_rows_lr_scale=options.new_words_lr_scale if base else 1.0,
    )


def fingerprint_of(run: Run) -> dict:
    """What must not change between a run and its `--resume`."""
    options, config = run.options, run.config
    assert config is not None and run.vocab is not None
    return {
        "data": file_digest(options.data),
        "val": file_digest(options.val),
        "images": str(options.images_dir) if options.images_dir else None,
        "base": run.base_id,
        "mode": "scratch" if options.scratch else "fine-tune",
        "encoder": run.encoder.spec.name,
        "fine_tune_encoder": options.fine_tune_encoder,
        "tune": "all" if options.scratch else options.tune,
        "val_fraction": options.val_fraction,
        "min_word_count": options.min_word_count,
        "vocabulary": len(run.vocab),
        "config": {k: v for k, v in asdict(config).items() if k not in ("epochs", "early_stop")},
    }


def _features_and_groups(run: Run) -> list[dict]:
    """Training and validation features (cached, or computed live when the encoder trains) and
    the optimiser's parameter groups."""
    assert run.decoder is not None and run.config is not None
    lr = run.config.lr
    groups: list[dict] = [{"params": [p for p in run.decoder.parameters() if p.requires_grad]}]
    groups[0]["lr"] = lr
    if run.options.fine_tune_encoder:
        for p in run.encoder.parameters():
            p.requires_grad_(False)
        tail = [p for m in encoder_tail(run.encoder) for p in m.parameters()]
        for p in tail:
            p.requires_grad_(True)
        groups.append({"params": tail, "lr": lr / 10})
        prepare = functools.partial(to_tensor, spec=run.encoder.spec, via=run.square)
        side = run.square or run.encoder.spec.input_size
        assert run.train is not None and run.val is not None
        run.features = (
            LiveFeatures(run.encoder, run.train.data.images, prepare, side),
            LiveFeatures(run.encoder, run.val.data.images, prepare, side),
        )
    else:
        assert run.cache is not None
        run.features = (run.cache.load(run.train_set.keys), run.cache.load(run.val_set.keys))
    return groups


def _score_base(run: Run, events: TrainEvents) -> None:
    """The base model on the validation photos (epoch 0), kept for the judgement."""
    assert run.decoder is not None and run.config is not None and run.features is not None
    val_features = run.features[1]
    scores, hypotheses = evaluate_decoder(
        run.decoder, val_features, run.val_set, run.vocab, run.config.eval_beam
    )
    losses = photo_losses(run.decoder, val_features, run.val_set, run.vocab, run.config.max_words)
    run.base_record = EpochRecord(0, 0.0, scores["BLEU-4"], scores["CIDEr"], 0.0, 0.0)
    run.base_record.val_loss = losses.per_word
    run.base_view = BaseView(losses, [hypotheses[str(i)] for i in range(len(hypotheses))])
    events.baseline(run.base_record)


def train_run(run: Run, work, resuming: bool, events: TrainEvents) -> TrainState:
    """Score the base, start the new words, train; the best epoch's weights end in the decoder."""
    groups = _features_and_groups(run)
    config, decoder = run.config, run.decoder
    assert config is not None and decoder is not None and run.features is not None
    train_features, val_features = run.features
    if run.base_info is not None:
        _score_base(run, events)
        if run.words_added and not resuming:
            run.started_from = init_from_context(
                decoder, run.vocab, len(run.base_info.vocabulary), train_features, run.train_set
            )
            shown = [
                f'"{w}" ← {" ".join(old[:2])}' for w, old in list(run.started_from.items())[:8]
            ]
            events.message(
                "new words start from the words the base expects there: " + ", ".join(shown)
            )
    run.steps = steps = steps_per_epoch(len(run.captions), config)
    events.plan(config.epochs, steps, len(run.captions), config.batch_size)

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
        improved = better_than(record, best_so_far, config.select_on)
        best_so_far = record if improved else best_so_far
        events.epoch_end(record, improved)

    one_pass = -(-len(run.captions) // config.batch_size)  # else every batch is full
    last_batch = len(run.captions) - (one_pass - 1) * config.batch_size
    last_batch = last_batch if steps == one_pass else config.batch_size
    return train_decoder(
        decoder,
        run.vocab,
        train_features,
        run.train_set,
        val_features,
        run.val_set,
        config,
        work,
        resume=resuming,
        on_step=lambda s, n, loss: events.step(
            s, n, loss, config.batch_size if s < n else last_batch
        ),
        on_epoch=on_epoch,
        trainable=groups,
        encoder=run.encoder if run.options.fine_tune_encoder else None,
        should_stop=events.should_stop,
        on_epoch_start=lambda e, n, done: events.epoch_start(e, config.epochs, n, done),
    )


def judge_run(run: Run) -> Judgement:
    """The trained decoder against the base on the validation photos."""
    assert run.base_view is not None and run.features is not None and run.config is not None
    val_features, data = run.features[1], run.val_set
    args = (run.decoder, val_features, data, run.vocab, run.config.max_words)
    _, hypotheses = evaluate_decoder(
        run.decoder, val_features, data, run.vocab, run.config.eval_beam
    )
    return judge(
        run.base_view,
        photo_losses(*args),
        swapped_losses(*args),
        [hypotheses[str(i)] for i in range(len(data.keys))],
        data.references,
        run.train_set.references,
        load_frequencies(),
        seed=run.options.seed,
    )


def own_confidence(run: Run, info: ModelInfo) -> Confidence:
    """The trained model's confidence curve: fitted on its validation captions, decoded as
    `photocap index` decodes them, when there are MIN_PHOTOS of them; else the base's."""
    from photocap.captioner import Captioner

    assert run.features is not None and run.decoder is not None
    captioner = Captioner(LoadedModel(info, run.encoder, run.decoder, "training"), run.device)
    base = _base_curve(run, captioner)
    photos = len(run.val_set.keys)
    if photos < MIN_PHOTOS:
        return Confidence(base, False, photos)
    features = run.features[1][:].float()  # (photos, num_pixels, D)
    captions = []
    for lo in range(0, photos, 100):
        captions += captioner.caption_features(features[lo : lo + 100], DecodeOptions())
    scores = np.array([c.score for c in captions])  # (photos,)
    tops = None
    if captioner.head is not None:
        with torch.inference_mode():
            tops = top_class_probabilities(captioner.head, features.to(run.device)).cpu().numpy()
    cider = content_scores(
        [c.text for c in captions],
        run.val_set.references,
        run.train_set.references,
        load_frequencies(),
    )
    return Confidence(fit_own_curve(scores, tops, cider, base), True, photos)


def _base_curve(run: Run, captioner) -> Calibration:
    """The curve the base model's steered captions are gated with (scratch: the shipped one)."""
    steered = (
        captioner.evidence.confidence.get(run.base_id)
        if captioner.evidence is not None and run.base_id
        else None
    )
    if steered:
        return calibration_for({"confidence": steered})
    return calibration_for(run.base_info.metrics if run.base_info else {})
