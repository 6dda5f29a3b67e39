"""Decoding: batched beam search over images × beams in one tensor per step (greedy is beam 1)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from photocap.model.decoder import AttentionDecoder
from photocap.model.repetition import mask_repeats_


@dataclass(frozen=True)
class DecodeOptions:
    """How captions are decoded."""

    beam_size: int = 3
    max_length: int = 30
    length_penalty: float = (
        0.7  # score / words**p (0: raw log-probability); 0.7 tuned on Flickr8k dev
    )
    no_repeat_ngram: int = 3  # a caption never repeats a word n-gram (0: allowed)
    no_word_twice: bool = True  # nor the same word twice in a row


@dataclass
class Decoded:
    """Best hypothesis per image: token ids (no `<start>`, ending before `<end>`), scores, attention."""

    tokens: list[list[int]]
    log_probs: list[float]  # total log-probability of each caption, `<end>` included
    alphas: list[torch.Tensor]  # each (num_words, num_pixels)


@torch.no_grad()
def beam_search(
    decoder: AttentionDecoder,
    features: torch.Tensor,
    options: DecodeOptions,
    banned: tuple[int, ...],
    start: int,
    end: int,
) -> Decoded:
    """Decode `features` (batch, num_pixels, encoder_dim) with beam search, all images at once.

    Tokens in `banned` (`<pad>`, `<start>`, `<unk>`) are never produced. A finished beam stays in
    the beam with its score frozen, so every step is one top-k over (images, beam × vocab); an
    image whose beams have all finished can no longer change and leaves the batch.
    """
    batch, num_pixels, _ = features.shape
    k, vocab = options.beam_size, decoder.config.vocab_size
    device = features.device
    # (h, c, …) each (rows, …): a grounded decoder's state also carries the photo's labels
    state = tuple(s.repeat_interleave(k, dim=0) for s in decoder.init_state(features))
    projected = decoder.attention.encoder_proj(features)  # (batch, num_pixels, attention_dim)
    projected = projected.repeat_interleave(k, dim=0)  # (rows, num_pixels, attention_dim)
    features = features.repeat_interleave(k, dim=0)  # (rows, num_pixels, encoder_dim); rows = n*k
    tokens = torch.full((batch * k,), start, dtype=torch.long, device=device)
    scores = torch.full((batch, k), float("-inf"), device=device)
    scores[:, 0] = 0.0  # all beams start identical: keep one so the first top-k is not k copies
    finished = torch.zeros(batch * k, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch * k, dtype=torch.long, device=device)
    history = torch.empty(batch * k, 0, dtype=torch.long, device=device)
    alpha_history = features.new_empty(batch * k, 0, num_pixels)
    frozen = torch.full((vocab,), float("-inf"), device=device)
    frozen[end] = 0.0  # a finished beam can only repeat `<end>`, at no cost
    alive = list(range(batch))  # images still decoding, in row order
    results: list[tuple[list[int], float, torch.Tensor] | None] = [None] * batch

    for step in range(options.max_length + 1):
        n = len(alive)
        logits, state, alpha = decoder.step(tokens, state, features, projected)
        log_probs = torch.log_softmax(logits.float(), dim=1)  # (n*k, vocab)
        log_probs[:, list(banned) + ([end] if step == 0 else [])] = float("-inf")  # ≥ 1 word
        if options.no_repeat_ngram or options.no_word_twice:
            mask_repeats_(log_probs, history, options.no_repeat_ngram, options.no_word_twice)
        decoder.mask_said_(log_probs, history, state)  # a grounded decoder names a label once
        log_probs[finished] = frozen
        candidates = scores.view(-1, 1) + log_probs  # (n*k, vocab)
        scores, top_index = candidates.view(n, k * vocab).topk(k, dim=1)  # (n, k)
        offsets = (torch.arange(n, device=device) * k).unsqueeze(1)  # (n, 1)
        origin = (top_index // vocab + offsets).view(-1)  # (n*k,) rows the new beams extend
        tokens = (top_index % vocab).view(-1)  # (n*k,)
        was_finished = finished[origin]
        lengths = lengths[origin] + (~was_finished).long()
        finished = was_finished | (tokens == end)
        history = torch.cat([history[origin], tokens.unsqueeze(1)], dim=1)  # (n*k, t+1)
        alpha_history = torch.cat([alpha_history[origin], alpha[origin].unsqueeze(1)], dim=1)
        state = tuple(s[origin] for s in state)
        if step == options.max_length:
            done = torch.ones(n, dtype=torch.bool)  # out of words: every image picks its best
        else:
            done = finished.view(n, k).all(dim=1).cpu()  # (n,)
        if not bool(done.any()):
            continue
        for i in done.nonzero().flatten().tolist():
            beams = slice(i * k, (i + 1) * k)
            results[alive[i]] = _best(
                scores[i], lengths[beams], finished[beams], history[beams], alpha_history[beams],
                options.length_penalty, end,
            )  # fmt: skip
        keep = (~done).to(device)  # (n,)
        if not bool(keep.any()):
            break
        rows = keep.repeat_interleave(k)  # (n*k,) beams of the images still decoding
        alive = [image for image, stays in zip(alive, keep.tolist(), strict=True) if stays]
        scores = scores[keep]
        tokens, finished, lengths = tokens[rows], finished[rows], lengths[rows]
        history, alpha_history = history[rows], alpha_history[rows]
        state = tuple(s[rows] for s in state)
        features, projected = features[rows], projected[rows]

    tokens_out, scores_out, alphas_out = zip(*results, strict=True)
    return Decoded(list(tokens_out), list(scores_out), list(alphas_out))


def _best(
    scores: torch.Tensor,
    lengths: torch.Tensor,
    finished: torch.Tensor,
    history: torch.Tensor,
    alphas: torch.Tensor,
    length_penalty: float,
    end: int,
) -> tuple[list[int], float, torch.Tensor]:
    """One image's best hypothesis among its k beams (scores, lengths, finished: (k,); history
    (k, t); alphas (k, t, num_pixels)): tokens before `<end>`, total log-probability, attention."""
    ranked = scores / lengths.float().clamp(min=1) ** length_penalty  # (k,)
    ranked[~finished] -= 1e9  # an unfinished hypothesis (hit max_length) ranks last
    row = int(ranked.argmax())
    seq = history[row].tolist()
    n = seq.index(end) if end in seq else len(seq)
    return seq[:n], float(scores[row]), alphas[row, :n].cpu()
