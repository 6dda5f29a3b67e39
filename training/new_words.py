"""New words of a fine-tuned vocabulary: a start from the words they stand in for, and faster learning.

A few hundred optimiser steps at a fine-tuning learning rate cannot carry a new word's rows from
the average word (training/vocab_growth.py) to where the caption needs it. So, before training:

- `init_from_context`: the base model reads the training captions (teacher-forced) and, where a
  caption has a new word, says which old words it expected there ("pupper" where it expects
  "dog", "product" where it expects "a"). The new word's embedding and output row become the
  probability-weighted mean of those words' rows and its output bias their bias minus `margin`:
  it follows the same context, ranks just below them and never displaces them on old photos.
- `FasterRows`: during training the new rows' updates are `scale` times the optimiser's, as if
  they were a parameter group with `scale` × the learning rate (Adam's update is linear in it).
"""

from __future__ import annotations

import torch
from photocap.training.data import CaptionSet, encode_batch

from photocap.model.decoder import AttentionDecoder
from photocap.model.vocab import SPECIALS, Vocabulary

ROWS = ("embedding.weight", "output.weight", "output.bias")


@torch.no_grad()
def context_guesses(
    decoder: AttentionDecoder,
    vocab: Vocabulary,
    first_new: int,
    features,
    data: CaptionSet,
    max_words: int = 30,
    batch_size: int = 64,
    per_word: int = 24,
) -> dict[int, torch.Tensor]:
    """{new word id: the base's mean probability over old words (first_new,) where it occurs}.

    Reads the captions that use a new word until each new word was seen in `per_word` of them
    (the guess is an average; "product" in all 600 captions needs no 600 forward passes)."""
    device = next(decoder.parameters()).device
    decoder.eval()
    seen: dict[int, int] = {}
    pairs = []
    for i, caption in data.pairs():
        new = {t for t in vocab.encode(caption, max_words) if t >= first_new}
        if any(seen.get(t, 0) < per_word for t in new):
            pairs.append((i, caption))
            for t in new:
                seen[t] = seen.get(t, 0) + 1
    sums: dict[int, torch.Tensor] = {}
    for lo in range(0, len(pairs), batch_size):
        batch = pairs[lo : lo + batch_size]
        captions, lengths = encode_batch([c for _, c in batch], vocab, max_words)  # (B, T), (B,)
        index = torch.tensor([i for i, _ in batch])
        feats = features[index].to(device).float()  # (B, num_pixels, D)
        logits, _ = decoder(feats, captions.to(device), lengths.to(device))  # (B, T-1, V)
        old = logits[..., :first_new].clone()  # (B, T-1, first_new)
        old[..., : len(SPECIALS)] = float("-inf")  # a word stands in for a word, not <end>
        probs = old.softmax(dim=-1)  # (B, T-1, first_new)
        targets = captions[:, 1 : logits.shape[1] + 1].to(device)  # (B, T-1)
        for word in targets[targets >= first_new].unique().tolist():
            mask = targets == word  # (B, T-1)
            total = probs[mask].sum(dim=0)  # (first_new,)
            sums[word] = sums.get(word, torch.zeros_like(total)) + total
    return {w: s / s.sum() for w, s in sums.items()}


@torch.no_grad()
def init_from_context(
    decoder: AttentionDecoder,
    vocab: Vocabulary,
    first_new: int,
    features,
    data: CaptionSet,
    top: int = 5,
    margin: float = 2.0,
    max_words: int = 30,
) -> dict[str, list[str]]:
    """Start each new word's rows from the old words the base expects in its place (in place).

    Returns {new word: the old words it started from, most weight first} for reports. New words
    the captions never reach (cut by `max_words`) keep the rows they had.
    """
    guesses = context_guesses(decoder, vocab, first_new, features, data, max_words)
    state = decoder.state_dict()
    emb, out_w, out_b = (state[name] for name in ROWS)
    started_from: dict[str, list[str]] = {}
    for word, probs in guesses.items():
        weights, ids = probs.topk(min(top, len(probs)))  # (top,), (top,)
        weights = (weights / weights.sum()).to(emb.dtype)  # (top,)
        emb[word] = weights @ emb[ids]  # (embed_dim,)
        out_w[word] = weights @ out_w[ids]  # (hidden_dim,)
        out_b[word] = weights @ out_b[ids] - margin
        started_from[vocab.words[word]] = [vocab.words[i] for i in ids.tolist()]
    return started_from


class FasterRows:
    """Scale the optimiser's update of the rows from `first_new` on (new words) by `scale`.

    Call `before()` just before `optimizer.step()` and `after()` just after it.
    """

    def __init__(self, decoder: AttentionDecoder, first_new: int, scale: float):
        named = dict(decoder.named_parameters())
        self.params = [named[name] for name in ROWS]
        self.first_new, self.scale = first_new, scale
        self.saved: list[torch.Tensor] = []

    def before(self) -> None:
        self.saved = [p.detach()[self.first_new :].clone() for p in self.params]

    @torch.no_grad()
    def after(self) -> None:
        for p, old in zip(self.params, self.saved, strict=True):
            rows = p[self.first_new :]  # (added, ...)
            rows.copy_(old + self.scale * (rows - old))
        self.saved = []
