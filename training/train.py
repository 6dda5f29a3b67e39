"""The decoder train loop on cached encoder features: validation each epoch, LR decay on plateau,
early stopping on validation CIDEr, exact resume from the last epoch's checkpoint."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from photocap.metrics import quick_scores
from photocap.model.decoder import AttentionDecoder
from photocap.model.search import DecodeOptions, beam_search
from photocap.model.vocab import Vocabulary, to_alt_text
from training.data import CaptionSet, encode_batch


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


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    val_bleu4: float
    val_cider: float
    lr: float
    seconds: float


@dataclass
class TrainState:
    """What `resume` restores besides tensors."""

    epoch: int = 0  # epochs finished
    best_cider: float = -1.0
    best_epoch: int = 0
    since_best: int = 0
    history: list[EpochRecord] = field(default_factory=list)


def evaluate_decoder(
    decoder: AttentionDecoder,
    features: torch.Tensor,
    data: CaptionSet,
    vocab: Vocabulary,
    beam: int,
    batch_size: int = 250,
) -> tuple[dict[str, float], dict[str, str]]:
    """Quick BLEU-4 / CIDEr of `decoder` on `data` (features (n, num_pixels, D)), and its captions."""
    decoder.eval()
    options = DecodeOptions(beam_size=beam)
    banned = (vocab.pad, vocab.start, vocab.unk)
    hypotheses = {}
    for lo in range(0, len(data.keys), batch_size):
        batch = features[lo : lo + batch_size].float()  # (batch, num_pixels, D)
        decoded = beam_search(decoder, batch, options, banned, vocab.start, vocab.end)
        for j, tokens in enumerate(decoded.tokens):
            hypotheses[str(lo + j)] = to_alt_text(vocab.decode(tokens))
    references = {str(i): refs for i, refs in enumerate(data.references)}
    return quick_scores(hypotheses, references), hypotheses


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


def _save_resume(path: Path, decoder, optimizer, generator, state: TrainState, config) -> None:
    tensors = {f"decoder.{k}": v.contiguous() for k, v in decoder.state_dict().items()}
    for idx, s in optimizer.state_dict()["state"].items():
        for name, value in s.items():
            tensors[f"optim.{idx}.{name}"] = torch.as_tensor(value).contiguous()
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.shuffle"] = generator.get_state()
    meta = {
        "state": json.dumps({**asdict(state), "history": [asdict(h) for h in state.history]}),
        "config": json.dumps(asdict(config)),
        "param_groups": json.dumps(optimizer.state_dict()["param_groups"]),
    }
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)


def _load_resume(path: Path, decoder, optimizer, generator) -> TrainState:
    from safetensors import safe_open

    tensors = load_file(str(path))
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    decoder.load_state_dict({k[8:]: v for k, v in tensors.items() if k.startswith("decoder.")})
    optim_state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            optim_state.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict(
        {"state": optim_state, "param_groups": json.loads(meta["param_groups"])}
    )
    torch.set_rng_state(tensors["rng.torch"])
    generator.set_state(tensors["rng.shuffle"])
    raw = json.loads(meta["state"])
    raw["history"] = [EpochRecord(**h) for h in raw["history"]]
    return TrainState(**raw)


def train_decoder(
    decoder: AttentionDecoder,
    vocab: Vocabulary,
    train_features: torch.Tensor,
    train_set: CaptionSet,
    val_features: torch.Tensor,
    val_set: CaptionSet,
    config: TrainConfig,
    work_dir: Path,
    resume: bool = False,
    on_step: Callable[[int, int, float], None] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    trainable: list[nn.Parameter] | None = None,
) -> TrainState:
    """Train `decoder` on cached features; the best epoch's weights end in `work_dir/best.safetensors`.

    `work_dir/last.safetensors` holds everything needed to resume exactly (weights, optimizer,
    RNG, history). Features are (n_images, num_pixels, D), float16 or float32.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    params = trainable if trainable is not None else list(decoder.parameters())
    optimizer = torch.optim.Adam(params, lr=config.lr)
    criterion = nn.CrossEntropyLoss(ignore_index=vocab.pad, label_smoothing=config.label_smoothing)
    last, best = work_dir / "last.safetensors", work_dir / "best.safetensors"
    state = (
        _load_resume(last, decoder, optimizer, generator)
        if resume and last.exists()
        else TrainState()
    )
    pairs = train_set.pairs()
    steps = math.ceil(len(pairs) / config.batch_size)

    while state.epoch < config.epochs and state.since_best < config.early_stop:
        started = time.monotonic()
        decoder.train()
        order = torch.randperm(len(pairs), generator=generator).tolist()
        total = 0.0
        for step in range(steps):
            batch = [
                pairs[i] for i in order[step * config.batch_size : (step + 1) * config.batch_size]
            ]
            index = torch.tensor([i for i, _ in batch])
            captions, lengths = encode_batch([c for _, c in batch], vocab, config.max_words)
            features = train_features[index].float()  # (B, num_pixels, D)
            loss = _loss(decoder, features, captions, lengths, config, criterion)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(params, config.grad_clip)
            optimizer.step()
            value = float(loss.detach())
            total += value
            if on_step:
                on_step(step + 1, steps, value)
        scores, _ = evaluate_decoder(decoder, val_features, val_set, vocab, config.eval_beam)
        state.epoch += 1
        record = EpochRecord(
            state.epoch,
            total / steps,
            scores["BLEU-4"],
            scores["CIDEr"],
            optimizer.param_groups[0]["lr"],
            time.monotonic() - started,
        )
        state.history.append(record)
        if record.val_cider > state.best_cider:
            state.best_cider, state.best_epoch, state.since_best = record.val_cider, state.epoch, 0
            save_file({k: v.contiguous() for k, v in decoder.state_dict().items()}, str(best))
        else:
            state.since_best += 1
            if state.since_best % config.decay_patience == 0:
                for group in optimizer.param_groups:
                    group["lr"] *= config.lr_decay
        _save_resume(last, decoder, optimizer, generator, state, config)
        if on_epoch:
            on_epoch(record)
    decoder.load_state_dict(load_file(str(best)))
    return state
