"""Beam search never repeats a word trigram nor a word twice in a row."""

from __future__ import annotations

import torch

from photocap.model.beam import DecodeOptions, beam_search
from photocap.model.decoder import AttentionDecoder, DecoderConfig
from photocap.model.repetition import repetition_mask

INF = float("-inf")
PLAIN = {"no_repeat_ngram": 0, "no_word_twice": False}


def repeats(tokens: list[int]) -> bool:
    """Whether a caption repeats a trigram or a word twice in a row (plain Python)."""
    trigrams = list(zip(tokens, tokens[1:], tokens[2:], strict=False))
    twice = any(a == b for a, b in zip(tokens, tokens[1:], strict=False))
    return twice or len(set(trigrams)) < len(trigrams)


def test_mask_blocks_the_word_that_would_complete_a_seen_trigram_and_the_last_word():
    history = torch.tensor([[5, 6, 7, 5, 6], [5, 6, 7, 8, 9], [4, 4, 4, 4, 4]])  # (3, 5)
    mask = repetition_mask(history, vocab_size=12)  # (3, 12)
    assert mask.shape == (3, 12)
    assert {int(i) for i in (mask[0] == INF).nonzero()} == {7, 6}  # "5 6 7" again; 6 twice
    assert {int(i) for i in (mask[1] == INF).nonzero()} == {9}  # no trigram context seen before
    assert {int(i) for i in (mask[2] == INF).nonzero()} == {4}
    assert not torch.isnan(mask).any()
    only_trigrams = repetition_mask(history, 12, ngram=3, twice=False)
    assert {int(i) for i in (only_trigrams[0] == INF).nonzero()} == {7}
    assert (repetition_mask(history[:, :0], 12) == 0).all()  # first step: nothing masked
    assert (repetition_mask(history[:, :1], 12, twice=False) == 0).all()


def _random_decoder(vocab_size: int = 12, seed: int = 0) -> AttentionDecoder:
    """An untrained decoder over a small vocabulary, `<end>` made unlikely: it repeats itself."""
    torch.manual_seed(seed)
    decoder = AttentionDecoder(DecoderConfig(vocab_size, 16, 24, 24, 32, dropout=0.0)).eval()
    with torch.no_grad():
        decoder.output.bias[2] -= 2.0  # `<end>`
    return decoder


def greedy_without_repeats(decoder, features, banned, start, end, max_length):
    """One image at a time, one word at a time, the rules written out in plain Python."""
    out = []
    with torch.no_grad():
        for f in features:
            f = f[None]
            state, projected = decoder.init_state(f), decoder.attention.encoder_proj(f)
            token, words = torch.tensor([start]), []
            for _ in range(max_length + 1):
                logits, state, _ = decoder.step(token, state, f, projected)
                logits[:, list(banned) + ([end] if not words else [])] = INF
                if words:
                    logits[0, words[-1]] = INF
                for i in range(len(words) - 2):
                    if words[i : i + 2] == words[-2:]:
                        logits[0, words[i + 2]] = INF
                token = logits.argmax(1)
                if int(token) == end:
                    break
                words.append(int(token))
            out.append(words)
    return out


def test_no_caption_repeats_itself_where_the_plain_search_does():
    decoder = _random_decoder()
    features = torch.randn(40, 9, 16)  # (images, num_pixels, encoder_dim)
    banned = (0, 1, 3)
    for beam in (1, 3):
        plain = beam_search(
            decoder, features, DecodeOptions(beam, max_length=16, **PLAIN), banned, 1, 2
        )
        assert sum(map(repeats, plain.tokens)) >= 5  # the untrained model does repeat itself
        clean = beam_search(decoder, features, DecodeOptions(beam, max_length=16), banned, 1, 2)
        assert not any(map(repeats, clean.tokens))
        assert all(tokens for tokens in clean.tokens)


def test_greedy_with_the_rules_matches_a_plain_python_reference():
    decoder = _random_decoder(seed=4)
    features = torch.randn(12, 9, 16)  # (images, num_pixels, encoder_dim)
    banned = (0, 1, 3)
    greedy = beam_search(decoder, features, DecodeOptions(1, max_length=14), banned, 1, 2)
    assert greedy.tokens == greedy_without_repeats(decoder, features, banned, 1, 2, 14)
