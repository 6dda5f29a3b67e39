"""The decoder train loop on cached encoder features: validation each epoch, LR decay on plateau,
early stopping on validation CIDEr, exact resume from the last checkpoint (epoch end or Ctrl-C;
what a checkpoint holds and how it is written and read: checkpoints.py).

Small data: an epoch is one pass over the captions, or several when `min_steps` asks for more
optimiser steps than `epochs` passes make (an epoch is then the stretch between validations).
With `plateau_on_loss` an epoch counts as progress when either the validation CIDEr or the
validation loss improved (the loss is steadier on a few photos), and `min_lr_fraction` keeps the
learning rate from decaying below that share of where it started.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from photocap.training.checkpoints import (
    EpochRecord,
    TrainState,
    load_best,
    load_resume,
    save_best,
    save_resume,
)
from photocap.training.data import CaptionSet, encode_batch
from photocap.training.new_words import FasterRows
from torch import nn

from photocap.errors import PhotocapError
from photocap.evaluation.scores import quick_scores
from photocap.model.beam import DecodeOptions, beam_search
from photocap.model.decoder import AttentionDecoder
from photocap.model.vocab import Vocabulary, to_alt_text


@dataclass
class TrainConfig:
    """Optimisation settings; saved with every checkpoint and in the model's metadata."""

    epochs: int = 20
    batch_size: int = 64
    lr: float = 4e-4
    lr_decay: float = 0.5  # multiply the LR when validation CIDEr did not improve
    decay_patience: int = 1  # epochs without improvement before a decay
    early_stop: int = 4  # epochs without improvement before stopping
    alpha_c: float = 1.0  # doubly stochastic attention regularisation
    grad_clip: float = 5.0
    max_words: int = 30
    label_smoothing: float = 0.0
    eval_beam: int = 3
    seed: int = 0
    min_steps: int = 0  # optimiser steps at least, over `epochs` epochs (small data: longer epochs)
    min_lr_fraction: float = 0.0  # the LR never decays below this share of its first value
    plateau_on_loss: bool = False  # a better validation loss also counts as progress
    select_on: str = "cider"  # the best epoch: "cider" (a tie: loss) or "loss" (lowest val loss)
    new_rows_from: int | None = None  # first row of new words (embedding, output)…
    new_rows_lr_scale: float = 1.0  # …and how much faster they learn than the rest


class Features(Protocol):
    """Encoder features by image index: a (n, num_pixels, D) tensor, or computed on demand."""

    def __getitem__(self, index: torch.Tensor | slice) -> torch.Tensor: ...

    def __len__(self) -> int: ...


class TrainingInterrupted(PhotocapError):
    """Training stopped on request; `work_dir/last.safetensors` continues it exactly."""

    def __init__(self, work_dir: Path, epoch: int, step: int, steps: int):
        where = f"epoch {epoch}, step {step}/{steps}" if step else f"after epoch {epoch - 1}"
        super().__init__(f"training interrupted at {where}; state saved", path=work_dir)
        self.epoch, self.step, self.steps = epoch, step, steps


@torch.no_grad()
def evaluate_decoder(
    decoder: AttentionDecoder,
    features: Features,
    data: CaptionSet,
    vocab: Vocabulary,
    beam: int,
    batch_size: int = 250,
) -> tuple[dict[str, float], dict[str, str]]:
    """Quick BLEU-4 / CIDEr of `decoder` on `data` (features (n, num_pixels, D)), and its captions."""
    decoder.eval()
    device = next(decoder.parameters()).device
    options = DecodeOptions(beam_size=beam)
    banned = (vocab.pad, vocab.start, vocab.unk)
    hypotheses = {}
    for lo in range(0, len(data.keys), batch_size):
        batch = features[lo : lo + batch_size].to(device).float()  # (batch, num_pixels, D)
        decoded = beam_search(decoder, batch, options, banned, vocab.start, vocab.end)
        for j, tokens in enumerate(decoded.tokens):
            hypotheses[str(lo + j)] = to_alt_text(vocab.decode(tokens))
    references = {str(i): refs for i, refs in enumerate(data.references)}
    return quick_scores(hypotheses, references), hypotheses


@torch.no_grad()
def validation_loss(
    decoder: AttentionDecoder,
    features: Features,
    data: CaptionSet,
    vocab: Vocabulary,
    max_words: int,
    batch_size: int = 250,
) -> float:
    """Mean cross-entropy per word of the validation captions, teacher-forced."""
    decoder.eval()
    device = next(decoder.parameters()).device
    pairs = data.pairs()
    total, words = 0.0, 0
    for lo in range(0, len(pairs), batch_size):
        batch = pairs[lo : lo + batch_size]
        captions, lengths = encode_batch([c for _, c in batch], vocab, max_words)  # (B, T), (B,)
        index = torch.tensor([i for i, _ in batch])
        feats = features[index].to(device).float()  # (B, num_pixels, D)
        logits, _ = decoder(feats, captions.to(device), lengths.to(device))  # (B, T-1, V)
        targets = captions[:, 1 : logits.shape[1] + 1].to(device)  # (B, T-1)
        total += float(
            nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]),
                targets.reshape(-1),
                ignore_index=vocab.pad,
                reduction="sum",
            )
        )
        words += int((targets != vocab.pad).sum())
    return total / max(words, 1)


def better_than(record: EpochRecord, other: EpochRecord | None, select_on: str = "cider") -> bool:
    """A higher validation CIDEr; on a tie (e.g. 0 on a few photos), a lower validation loss.
    `select_on="loss"`: a lower validation loss alone."""
    if other is None:
        return True
    if select_on == "loss":
        return (
            record.val_loss is not None
            and other.val_loss is not None
            and record.val_loss < other.val_loss
        )
    if record.val_cider != other.val_cider:
        return record.val_cider > other.val_cider
    return (
        record.val_loss is not None
        and other.val_loss is not None
        and record.val_loss < other.val_loss
    )


def steps_per_epoch(captions: int, config: TrainConfig) -> int:
    """One pass over the captions, or more when `min_steps` over `epochs` asks for more."""
    one_pass = math.ceil(captions / config.batch_size)
    return max(one_pass, math.ceil(config.min_steps / max(config.epochs, 1)))


def _epoch_order(generator: torch.Generator, captions: int, steps: int, batch: int) -> list[int]:
    """Caption indices of an epoch: shuffled passes, as many as `steps` batches take."""
    order = torch.randperm(captions, generator=generator).tolist()
    while len(order) < steps * batch:
        order += torch.randperm(captions, generator=generator).tolist()
    return order if len(order) == captions else order[: steps * batch]


def _loss(
    decoder: AttentionDecoder,
    features: torch.Tensor,
    captions: torch.Tensor,
    lengths: torch.Tensor,
    config: TrainConfig,
    criterion: nn.Module,
) -> torch.Tensor:
    logits, alphas = decoder(features, captions, lengths)  # (B, T, V), (B, T, P)
    targets = captions[:, 1 : logits.shape[1] + 1]  # (B, T)
    loss = criterion(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    attention_reg = ((1.0 - alphas.sum(dim=1)) ** 2).mean()  # each pixel attended ~once in total
    return loss + config.alpha_c * attention_reg


def _flat_params(trainable: list) -> list[nn.Parameter]:
    """Parameters of a list of parameters or of optimizer param groups."""
    if trainable and isinstance(trainable[0], dict):
        return [p for group in trainable for p in group["params"]]
    return list(trainable)


def train_decoder(
    decoder: AttentionDecoder,
    vocab: Vocabulary,
    train_features: Features,
    train_set: CaptionSet,
    val_features: Features,
    val_set: CaptionSet,
    config: TrainConfig,
    work_dir: Path,
    resume: bool = False,
    on_step: Callable[[int, int, float], None] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    trainable: list[nn.Parameter] | list[dict] | None = None,
    *,
    encoder: nn.Module | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_epoch_start: Callable[[int, int, int], None] | None = None,
) -> TrainState:
    """Train `decoder` on cached features; the best epoch's weights end in `work_dir/best.safetensors`.

    `work_dir/last.safetensors` holds everything needed to resume exactly (weights, optimizer,
    RNG, history). Features are (n_images, num_pixels, D), float16 or float32, on any device;
    batches go to the decoder's device. `trainable` may be param groups (e.g. a smaller LR for
    an encoder); an `encoder` whose parameters are trained is saved and restored with the decoder.
    When `should_stop()` turns true the state is saved after the current step and
    TrainingInterrupted is raised. `on_epoch_start(epoch, steps, steps_done)` opens each epoch.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    device = next(decoder.parameters()).device
    groups = trainable if trainable is not None else list(decoder.parameters())
    params = _flat_params(groups)
    optimizer = torch.optim.Adam(groups, lr=config.lr)
    for group in optimizer.param_groups:
        group.setdefault("first_lr", group["lr"])  # the floor of `min_lr_fraction` is relative
    faster = (
        FasterRows(decoder, config.new_rows_from, config.new_rows_lr_scale)
        if config.new_rows_from is not None and config.new_rows_lr_scale != 1.0
        else None
    )
    criterion = nn.CrossEntropyLoss(ignore_index=vocab.pad, label_smoothing=config.label_smoothing)
    last, best = work_dir / "last.safetensors", work_dir / "best.safetensors"
    state, order = (
        load_resume(last, decoder, optimizer, generator, encoder)
        if resume and last.exists()
        else (TrainState(), None)
    )
    pairs = train_set.pairs()
    steps = steps_per_epoch(len(pairs), config)

    def save_last(order: list[int] | None = None) -> None:
        save_resume(last, decoder, optimizer, generator, state, config, encoder, order)

    while state.epoch < config.epochs and state.since_best < config.early_stop:
        started = time.monotonic() - state.epoch_seconds
        decoder.train()
        if not state.step or order is None:  # a fresh epoch (else: resume inside this one)
            order = _epoch_order(generator, len(pairs), steps, config.batch_size)
            state.step, state.epoch_loss = 0, 0.0
        if on_epoch_start:
            on_epoch_start(state.epoch + 1, steps, state.step)
        for step in range(state.step, steps):
            batch = [
                pairs[i] for i in order[step * config.batch_size : (step + 1) * config.batch_size]
            ]
            index = torch.tensor([i for i, _ in batch])
            captions, lengths = encode_batch([c for _, c in batch], vocab, config.max_words)
            features = train_features[index].to(device).float()  # (B, num_pixels, D)
            captions, lengths = captions.to(device), lengths.to(device)  # (B, T), (B,)
            loss = _loss(decoder, features, captions, lengths, config, criterion)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(params, config.grad_clip)
            if faster:
                faster.before()
            optimizer.step()
            if faster:
                faster.after()
            value = float(loss.detach())
            state.epoch_loss += value
            state.step = step + 1
            if on_step:
                on_step(step + 1, steps, value)
            if should_stop and should_stop() and state.step < steps:
                state.epoch_seconds = time.monotonic() - started
                save_last(order)
                raise TrainingInterrupted(work_dir, state.epoch + 1, state.step, steps)
        scores, _ = evaluate_decoder(decoder, val_features, val_set, vocab, config.eval_beam)
        val_loss = validation_loss(decoder, val_features, val_set, vocab, config.max_words)
        state.epoch += 1
        record = EpochRecord(
            state.epoch,
            state.epoch_loss / steps,
            scores["BLEU-4"],
            scores["CIDEr"],
            optimizer.param_groups[0]["lr"],
            time.monotonic() - started,
            val_loss,
        )
        state.step, state.epoch_loss, state.epoch_seconds, order = 0, 0.0, 0.0, None
        state.history.append(record)
        better_loss = config.plateau_on_loss and val_loss < state.best_val_loss - 1e-4
        state.best_val_loss = min(state.best_val_loss, val_loss)
        best_yet = state.history[state.best_epoch - 1] if state.best_epoch else None
        if better_than(record, best_yet, config.select_on):
            state.best_cider, state.best_epoch, state.since_best = record.val_cider, state.epoch, 0
            save_best(best, decoder, encoder)
        elif better_loss:
            state.since_best = 0
        else:
            state.since_best += 1
            if state.since_best % config.decay_patience == 0:
                for group in optimizer.param_groups:
                    floor = group["first_lr"] * config.min_lr_fraction
                    group["lr"] = max(group["lr"] * config.lr_decay, floor)
        save_last()
        if on_epoch:
            on_epoch(record)
        if should_stop and should_stop():
            done = state.epoch >= config.epochs or state.since_best >= config.early_stop
            if not done:
                raise TrainingInterrupted(work_dir, state.epoch + 1, 0, steps)
    load_best(best, decoder, encoder)
    return state
