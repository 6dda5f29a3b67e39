"""Growing a trained decoder's vocabulary: new words get new rows, the learned rows stay as they are."""

from __future__ import annotations

from dataclasses import replace

import torch

from photocap.model.decoder import AttentionDecoder
from photocap.model.grounded import build_decoder
from photocap.model.vocab import SPECIALS


def extend_decoder(
    decoder: AttentionDecoder, vocab_size: int, seed: int = 0, noise: float = 0.01
) -> AttentionDecoder:
    """A copy of `decoder` for a vocabulary grown to `vocab_size` (new words appended at the end).

    Every learned tensor is copied unchanged. A new word starts as the average learned word: the
    mean embedding row, the mean output row and the mean output bias (plus `noise` × the rows'
    spread, seeded), so it is about as likely as a typical word and never beats the words the
    decoder already picks: captions of old photos stay as they were until training moves them.
    """
    old = decoder.config.vocab_size
    if vocab_size < old:
        raise ValueError(f"cannot shrink a vocabulary ({old} → {vocab_size} words)")
    grown = build_decoder(replace(decoder.config, vocab_size=vocab_size))
    state = {k: v.detach().clone() for k, v in decoder.state_dict().items()}
    added = vocab_size - old
    if added:
        generator = torch.Generator().manual_seed(seed)
        learned = slice(len(SPECIALS), old)  # word rows; the special tokens are not words

        def grow(rows: torch.Tensor) -> torch.Tensor:
            words = rows[learned]  # (old - 4, ...)
            mean = words.mean(dim=0, keepdim=True)  # (1, ...)
            spread = words.std(dim=0, keepdim=True) if len(words) > 1 else torch.zeros_like(mean)
            jitter = torch.randn((added, *rows.shape[1:]), generator=generator, dtype=rows.dtype)
            new = mean + noise * spread * jitter  # (added, ...)
            return torch.cat([rows, new.to(rows.device)], dim=0)  # (vocab_size, ...)

        for name in ("embedding.weight", "output.weight", "output.bias"):
            state[name] = grow(state[name])
    grown.load_state_dict(state)
    return grown.to(next(decoder.parameters()).device).train(decoder.training)
