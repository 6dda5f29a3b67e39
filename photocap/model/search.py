"""Decoding: batched beam search over images × beams in one tensor per step (greedy is beam 1)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from photocap.model.decoder import AttentionDecoder


@dataclass(frozen=True)
class DecodeOptions:
    """How captions are decoded."""

    beam_size: int = 3
    max_length: int = 30
    length_penalty: float = (
        0.7  # score / words**p (0: raw log-probability); 0.7 tuned on Flickr8k dev
    )


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
    the beam with its score frozen, so every step is one top-k over (batch, beam × vocab).
    """
    batch, num_pixels, encoder_dim = features.shape
    k, vocab = options.beam_size, decoder.config.vocab_size
    features = features.repeat_interleave(k, dim=0)  # (batch*k, num_pixels, encoder_dim)
    projected = decoder.attention.encoder_proj(features)  # (batch*k, num_pixels, attention_dim)
    state = decoder.init_state(features)
    tokens = torch.full((batch * k,), start, dtype=torch.long, device=features.device)
    scores = torch.full((batch, k), float("-inf"), device=features.device)
    scores[:, 0] = 0.0  # all beams start identical: keep one so the first top-k is not k copies
    finished = torch.zeros(batch * k, dtype=torch.bool, device=features.device)
    lengths = torch.zeros(batch * k, dtype=torch.long, device=features.device)
    history = torch.empty(batch * k, 0, dtype=torch.long, device=features.device)
    alpha_history = features.new_empty(batch * k, 0, num_pixels)
    frozen = torch.full((vocab,), float("-inf"), device=features.device)
    frozen[end] = 0.0  # a finished beam can only repeat `<end>`, at no cost
    offsets = (torch.arange(batch, device=features.device) * k).unsqueeze(1)  # (batch, 1)

    for step in range(options.max_length + 1):
        logits, state, alpha = decoder.step(tokens, state, features, projected)
        log_probs = torch.log_softmax(logits.float(), dim=1)  # (batch*k, vocab)
        log_probs[:, list(banned) + ([end] if step == 0 else [])] = float("-inf")  # ≥ 1 word
        log_probs[finished] = frozen
        candidates = scores.view(-1, 1) + log_probs  # (batch*k, vocab)
        top_scores, top_index = candidates.view(batch, k * vocab).topk(k, dim=1)  # (batch, k)
        origin = (top_index // vocab + offsets).view(-1)  # (batch*k,) rows the new beams extend
        tokens = (top_index % vocab).view(-1)  # (batch*k,)
        scores = top_scores
        was_finished = finished[origin]
        lengths = lengths[origin] + (~was_finished).long()
        finished = was_finished | (tokens == end)
        history = torch.cat([history[origin], tokens.unsqueeze(1)], dim=1)  # (batch*k, t+1)
        alpha_history = torch.cat([alpha_history[origin], alpha[origin].unsqueeze(1)], dim=1)
        state = (state[0][origin], state[1][origin])
        if bool(finished.all()):
            break

    penalty = lengths.view(batch, k).float().clamp(min=1) ** options.length_penalty
    ranked = scores / penalty  # (batch, k)
    ranked[~finished.view(batch, k)] -= 1e9  # an unfinished hypothesis (hit max_length) ranks last
    best = (ranked.argmax(dim=1) + offsets.squeeze(1)).tolist()
    out_tokens, out_scores, out_alphas = [], [], []
    for row in best:
        seq = history[row].tolist()
        n = seq.index(end) if end in seq else len(seq)
        out_tokens.append(seq[:n])
        out_scores.append(float(scores.view(-1)[row]))
        out_alphas.append(alpha_history[row, :n].cpu())
    return Decoded(out_tokens, out_scores, out_alphas)
