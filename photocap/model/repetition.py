"""Logit masks that keep a caption from repeating itself, for every beam at once.

Two rules, both computed from the tokens each beam has emitted so far, as tensors (no loop over
words or beams):
- no n-gram twice: a word that would complete an n-gram already in the caption is masked
  ("a man in a black shirt is standing next to a man in a black shirt");
- no word twice in a row ("a man in a blue blue shirt"); Flickr8k's 40,455 reference captions do
  it 8 times.
"""

from __future__ import annotations

import torch


def mask_repeats_(
    log_probs: torch.Tensor, history: torch.Tensor, ngram: int = 3, twice: bool = True
) -> torch.Tensor:
    """Set to -inf, in place, the `log_probs` (rows, vocab) of every next word that would repeat.

    `history` (rows, t) holds each beam's tokens so far (no `<start>`). `ngram` below 2 turns the
    n-gram rule off, `twice` False the word-twice-in-a-row rule. `<end>` never appears in a live
    beam's history, so it is never masked and a beam can always finish.
    """
    rows, t = history.shape
    if t == 0:
        return log_probs
    if twice:
        log_probs.scatter_(1, history[:, -1:], float("-inf"))  # the last word again
    n = ngram - 1  # words of context before the word that would complete an n-gram
    if ngram < 2 or t < ngram:
        return log_probs
    # windows[r, i] = history[r, i : i + ngram]: every n-gram each beam has emitted
    windows = history.unfold(1, ngram, 1)  # (rows, t - ngram + 1, ngram)
    context = history[:, -n:].unsqueeze(1)  # (rows, 1, n) the words the next one follows
    seen = (windows[:, :, :n] == context).all(dim=2)  # (rows, t - ngram + 1) same context
    penalty = torch.zeros(seen.shape, dtype=log_probs.dtype, device=log_probs.device)
    penalty[seen] = float("-inf")  # (rows, t - ngram + 1)
    log_probs.scatter_add_(1, windows[:, :, n], penalty)  # -inf on each word that completed one
    return log_probs  # (rows, vocab)


def repetition_mask(
    history: torch.Tensor, vocab_size: int, ngram: int = 3, twice: bool = True
) -> torch.Tensor:
    """The same rules as an additive mask (rows, vocab_size): -inf where a word would repeat."""
    mask = torch.zeros((history.shape[0], vocab_size), device=history.device)  # (rows, vocab)
    return mask_repeats_(mask, history, ngram, twice)
