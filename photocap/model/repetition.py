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


def repetition_mask(
    history: torch.Tensor, vocab_size: int, ngram: int = 3, twice: bool = True
) -> torch.Tensor:
    """An additive mask (rows, vocab_size): -inf where a next word would repeat, 0 elsewhere.

    `history` (rows, t) holds each beam's tokens so far (no `<start>`). `ngram` below 2 turns the
    n-gram rule off, `twice` False the word-twice-in-a-row rule. `<end>` never appears in a live
    beam's history, so it is never masked and a beam can always finish.
    """
    rows, t = history.shape
    mask = history.new_zeros((rows, vocab_size), dtype=torch.float)  # (rows, vocab)
    if t == 0:
        return mask
    if twice:
        blocked = torch.full((rows, 1), float("-inf"), device=history.device)  # (rows, 1)
        mask.scatter_(1, history[:, -1:], blocked)  # the last word again
    n = ngram - 1  # words of context before the word that would complete an n-gram
    if ngram < 2 or t < ngram:
        return mask
    # windows[r, i] = history[r, i : i + ngram]: every n-gram each beam has emitted
    windows = history.unfold(1, ngram, 1)  # (rows, t - ngram + 1, ngram)
    context = history[:, -n:].unsqueeze(1)  # (rows, 1, n) the words the next one follows
    seen = (windows[:, :, :n] == context).all(dim=2)  # (rows, t - ngram + 1) same context
    penalty = torch.zeros(seen.shape, device=history.device)  # (rows, t - ngram + 1)
    penalty[seen] = float("-inf")
    mask.scatter_add_(1, windows[:, :, n], penalty)  # -inf on each word that completed one
    return mask  # (rows, vocab)
