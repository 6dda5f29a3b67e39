"""Self-critical sequence training (Rennie et al. 2017): fine-tune the decoder on CIDEr-D itself.

After cross-entropy training, sample several captions per image, reward each by its CIDEr-D against
the image's references, and push up the log-probability of captions that beat the mean of the
other samples of the same image (the baseline). Optimises the metric the captions are judged by.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from photocap.evaluation.scores import CiderD  # the reward; re-exported for recipes and tests
from photocap.model.decoder import AttentionDecoder
from photocap.model.vocab import Vocabulary


def sample(
    decoder: AttentionDecoder,
    features: torch.Tensor,
    samples: int,
    max_length: int,
    banned: tuple[int, ...],
    end: int,
    start: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`samples` captions per image drawn from the model, with the graph kept for backprop.

    features (batch, num_pixels, D). Returns tokens (batch*samples, T) with `<end>` then padding
    (pad = 0), and the summed log-probability of each caption (batch*samples,).
    """
    features = features.repeat_interleave(samples, dim=0)  # (batch*samples, num_pixels, D)
    rows = features.shape[0]
    projected = decoder.attention.encoder_proj(features)  # (rows, num_pixels, attention_dim)
    state = decoder.init_state(features)
    tokens = torch.full((rows,), start, dtype=torch.long)
    done = torch.zeros(rows, dtype=torch.bool)
    out, total = [], features.new_zeros(rows)
    for step in range(max_length + 1):
        logits, state, _ = decoder.step(tokens, state, features, projected)
        log_probs = torch.log_softmax(logits, dim=1)  # (rows, vocab)
        mask = torch.zeros_like(log_probs, dtype=torch.bool)
        mask[:, list(banned)] = True
        if step == 0:
            mask[:, end] = True
        if step == max_length:
            mask[:] = True
            mask[:, end] = False
        log_probs = log_probs.masked_fill(mask, float("-inf"))
        tokens = torch.multinomial(log_probs.detach().exp(), 1).squeeze(1)  # (rows,)
        chosen = log_probs.gather(1, tokens.unsqueeze(1)).squeeze(1)  # (rows,)
        total = total + chosen.masked_fill(done, 0.0)
        tokens = tokens.masked_fill(done, 0)
        out.append(tokens)
        done = done | (tokens == end)
        if bool(done.all()):
            break
    return torch.stack(out, dim=1), total


@dataclass
class ScstStats:
    mean_reward: float
    seconds: float


def scst_epoch(
    decoder: AttentionDecoder,
    optimizer: torch.optim.Optimizer,
    features: torch.Tensor,
    cider: CiderD,
    vocab: Vocabulary,
    batch_size: int = 32,
    samples: int = 5,
    max_length: int = 20,
    grad_clip: float = 5.0,
    generator: torch.Generator | None = None,
    on_step: Callable[[int, int, float], None] | None = None,
) -> ScstStats:
    """One pass over the training images (features (n, num_pixels, D)), `samples` captions each."""
    decoder.train()
    started = time.monotonic()
    order = torch.randperm(features.shape[0], generator=generator).tolist()
    steps = math.ceil(len(order) / batch_size)
    banned = (vocab.pad, vocab.start, vocab.unk)
    rewards_seen = []
    for step in range(steps):
        images = order[step * batch_size : (step + 1) * batch_size]
        batch = features[torch.tensor(images)].float()  # (B, num_pixels, D)
        tokens, log_prob = sample(
            decoder, batch, samples, max_length, banned, vocab.end, vocab.start
        )
        rewards = torch.tensor(
            [
                cider.score(vocab.decode(row), images[i // samples])
                for i, row in enumerate(tokens.tolist())
            ]
        ).view(len(images), samples)  # (B, samples)
        baseline = (rewards.sum(1, keepdim=True) - rewards) / (samples - 1)  # mean of the others
        advantage = (rewards - baseline).view(-1)  # (B*samples,)
        loss = -(advantage * log_prob).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(decoder.parameters(), grad_clip)
        optimizer.step()
        rewards_seen.append(float(rewards.mean()))
        if on_step:
            on_step(step + 1, steps, rewards_seen[-1])
    return ScstStats(sum(rewards_seen) / len(rewards_seen), time.monotonic() - started)
