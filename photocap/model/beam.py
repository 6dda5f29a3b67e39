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
    evidence: bool = True  # steer away from object words the photo shows no evidence of


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
    word_bias: torch.Tensor | None = None,
    nouns: torch.Tensor | None = None,
) -> Decoded:
    """Decode `features` (batch, num_pixels, encoder_dim) with beam search, all images at once.

    Tokens in `banned` (`<pad>`, `<start>`, `<unk>`) are never produced. A finished beam stays in
    the beam with its score frozen, so every step is one top-k over (images, beam × vocab); an
    image whose beams have all finished can no longer change and leaves the batch.

    Where the decoder requires a word of an image's caption (`required_words`: a grounded model
    names the object its labels are sure of), that image keeps two groups of k beams, those that
    still owe the word and those that said it, and its caption comes from the second group
    unless no finished hypothesis there has it (constrained beam search, Anderson et al. 2017).

    `word_bias` (batch, vocab), added to every step's log-probabilities, steers each image's
    beams (evidence: an object word the photo gives no evidence for costs log-probability); it
    counts in the caption's score. With `nouns` (vocab,) bool, a required word is said only
    where the beam itself would say a noun next (the word takes a noun's place: "A cat lies on
    the bed.", not "A laptop woman is sitting.").
    """
    batch, num_pixels, _ = features.shape
    k, vocab = options.beam_size, decoder.config.vocab_size
    device = features.device
    # (h, c, …) each (batch, …): a grounded decoder's state also carries the photo's labels
    state = decoder.init_state(features)
    required = decoder.required_words(state)  # (batch,) a word each caption must say, -1: none
    groups = 1 if required is None or not bool((required >= 0).any()) else 2
    width = groups * k  # rows per image: k beams, or k that still owe the word and k that said it
    state = tuple(s.repeat_interleave(width, dim=0) for s in state)
    projected = decoder.attention.encoder_proj(features)  # (batch, num_pixels, attention_dim)
    projected = projected.repeat_interleave(width, dim=0)  # (rows, num_pixels, attention_dim)
    features = features.repeat_interleave(width, dim=0)  # (rows, num_pixels, encoder_dim)
    tokens = torch.full((batch * width,), start, dtype=torch.long, device=device)  # rows = n·width
    scores = torch.full((batch, width), float("-inf"), device=device)
    # all beams start identical: keep one so the first top-k is not k copies; an image that owes
    # a word starts in the owing group, any other in the last (the only group without one)
    first = 0 if groups == 1 else torch.where(required >= 0, 0, k)  # (batch,) or 0
    scores[torch.arange(batch, device=device), first] = 0.0
    finished = torch.zeros(batch * width, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch * width, dtype=torch.long, device=device)
    history = torch.empty(batch * width, 0, dtype=torch.long, device=device)
    alpha_history = features.new_empty(batch * width, 0, num_pixels)
    if word_bias is not None:
        word_bias = word_bias.to(device).repeat_interleave(width, dim=0)  # (rows, vocab)
    frozen = torch.full((vocab,), float("-inf"), device=device)
    frozen[end] = 0.0  # a finished beam can only repeat `<end>`, at no cost
    alive = list(range(batch))  # images still decoding, in row order
    results: list[tuple[list[int], float, torch.Tensor] | None] = [None] * batch

    for step in range(options.max_length + 1):
        n = len(alive)
        logits, state, alpha = decoder.step(tokens, state, features, projected)
        log_probs = torch.log_softmax(logits.float(), dim=1)  # (n*width, vocab)
        if word_bias is not None:
            log_probs += word_bias
        log_probs[:, list(banned) + ([end] if step == 0 else [])] = float("-inf")  # ≥ 1 word
        if options.no_repeat_ngram or options.no_word_twice:
            mask_repeats_(log_probs, history, options.no_repeat_ngram, options.no_word_twice)
        decoder.mask_said_(log_probs, history, state)  # a grounded decoder names a label once
        log_probs[finished] = frozen
        candidates = (scores.view(-1, 1) + log_probs).view(n, width, vocab)
        if groups == 1:
            scores, top_index = candidates.view(n, k * vocab).topk(k, dim=1)  # (n, k)
            source, tokens = top_index // vocab, top_index % vocab  # (n, k) each
        else:
            slot = None
            if nouns is not None:  # (n, k) whether each owing beam's likeliest next word is a noun
                wanted = log_probs.view(n, width, vocab)[:, :k].argmax(dim=2)  # (n, k)
                slot = nouns.to(device)[wanted] | (wanted == required.view(n, 1))
            scores, source, tokens = _constrained_top_k(candidates, required, k, slot)
        offsets = (torch.arange(n, device=device) * width).unsqueeze(1)  # (n, 1)
        origin = (source + offsets).view(-1)  # (n*width,) rows the new beams extend
        tokens = tokens.reshape(-1)  # (n*width,)
        was_finished = finished[origin]
        lengths = lengths[origin] + (~was_finished).long()
        finished = was_finished | (tokens == end)
        history = torch.cat([history[origin], tokens.unsqueeze(1)], dim=1)  # (n*width, t+1)
        alpha_history = torch.cat([alpha_history[origin], alpha[origin].unsqueeze(1)], dim=1)
        state = tuple(s[origin] for s in state)
        if step == options.max_length:
            done = torch.ones(n, dtype=torch.bool)  # out of words: every image picks its best
        else:  # the last group (no word owed) all live and finished
            last = (finished & scores.view(-1).isfinite()).view(n, width)[:, -k:]  # (n, k)
            done = last.all(dim=1).cpu()  # (n,)
        if not bool(done.any()):
            continue
        for i in done.nonzero().flatten().tolist():
            beams = slice(i * width, (i + 1) * width)
            results[alive[i]] = _best(
                scores[i], lengths[beams], finished[beams], history[beams], alpha_history[beams],
                options.length_penalty, end, owing=width - k,
            )  # fmt: skip
        keep = (~done).to(device)  # (n,)
        if not bool(keep.any()):
            break
        rows = keep.repeat_interleave(width)  # (n*width,) beams of the images still decoding
        alive = [image for image, stays in zip(alive, keep.tolist(), strict=True) if stays]
        scores = scores[keep]
        if required is not None:
            required = required[keep]
        tokens, finished, lengths = tokens[rows], finished[rows], lengths[rows]
        history, alpha_history = history[rows], alpha_history[rows]
        state = tuple(s[rows] for s in state)
        features, projected = features[rows], projected[rows]
        if word_bias is not None:
            word_bias = word_bias[rows]

    tokens_out, scores_out, alphas_out = zip(*results, strict=True)
    return Decoded(list(tokens_out), list(scores_out), list(alphas_out))


def _constrained_top_k(
    candidates: torch.Tensor, required: torch.Tensor, k: int, slot: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Constrained beam search's step for one required word per image (Anderson et al. 2017):
    candidates (n, 2k, vocab), rows 0..k-1 still owe `required` (n,), rows k..2k-1 said it. The
    owing group keeps its best k continuations without the word; the other group its best k
    among its own continuations and the owing beams saying the word (where `slot` (n, k) allows
    it). Returns the new scores, the row each new beam extends and its token, each (n, 2k)."""
    n, _, vocab = candidates.shape
    owing, said = candidates[:, :k], candidates[:, k:]  # (n, k, vocab) each
    word = required.clamp(min=0).view(n, 1, 1).expand(n, k, 1)  # (n, k, 1); -1 (none) → `<pad>`
    saying = owing.gather(2, word).squeeze(2)  # (n, k): an owing beam saying the word
    if slot is not None:  # only where a noun goes
        saying = saying.masked_fill(~slot, float("-inf"))
    owing = owing.scatter(2, word, float("-inf"))
    owing_scores, owing_index = owing.reshape(n, k * vocab).topk(k, dim=1)  # (n, k)
    pool = torch.cat([said.reshape(n, k * vocab), saying], dim=1)  # (n, k·vocab + k)
    said_scores, said_index = pool.topk(k, dim=1)  # (n, k)
    kept = said_index < k * vocab  # (n, k): a beam that had said it already
    said_source = torch.where(kept, k + said_index // vocab, said_index - k * vocab)
    said_tokens = torch.where(kept, said_index % vocab, word[:, :, 0])
    return (
        torch.cat([owing_scores, said_scores], dim=1),
        torch.cat([owing_index // vocab, said_source], dim=1),
        torch.cat([owing_index % vocab, said_tokens], dim=1),
    )


def _best(
    scores: torch.Tensor,
    lengths: torch.Tensor,
    finished: torch.Tensor,
    history: torch.Tensor,
    alphas: torch.Tensor,
    length_penalty: float,
    end: int,
    owing: int = 0,
) -> tuple[list[int], float, torch.Tensor]:
    """One image's best hypothesis among its beams (scores, lengths, finished: (beams,); history
    (beams, t); alphas (beams, t, num_pixels)): tokens before `<end>`, total log-probability,
    attention. The first `owing` beams have not said a required word: they rank below the rest."""
    ranked = scores / lengths.float().clamp(min=1) ** length_penalty  # (beams,)
    ranked[:owing] -= 1e9  # a finished caption without the required word only when none has it
    ranked[~finished] -= 1e18  # an unfinished hypothesis (hit max_length) ranks last
    row = int(ranked.argmax())
    seq = history[row].tolist()
    n = seq.index(end) if end in seq else len(seq)
    return seq[:n], float(scores[row]), alphas[row, :n].cpu()
