"""Self-critical training: our CIDEr-D equals the COCO code's, and SCST raises the reward."""

from __future__ import annotations

import torch
from photocap.training.recipes.scst import CiderD, sample, scst_epoch
from pycocoevalcap.cider.cider import Cider

from photocap.model.decoder import AttentionDecoder, DecoderConfig
from photocap.model.vocab import Vocabulary, tokenize

REFS = [
    ["A dog runs on the beach .", "A brown dog running on sand .", "Dog at the beach ."],
    ["A man rides a bike .", "A person on a bicycle .", "Man cycling down a street ."],
    ["Two kids play in snow .", "Children playing in the snow .", "Kids in snow ."],
    ["A girl climbs the stairs .", "A little girl on a staircase .", "Girl going up stairs ."],
]


def test_cider_d_matches_pycocoevalcap():
    candidates = ["a dog runs on the sand", "a man rides a bicycle", "a kid in the snow", "a dog"]
    ours = [CiderD(REFS).score(tokenize(c), i) for i, c in enumerate(candidates)]
    gts = {str(i): [" ".join(tokenize(r)) for r in refs] for i, refs in enumerate(REFS)}
    res = {str(i): [" ".join(tokenize(c))] for i, c in enumerate(candidates)}
    _, theirs = Cider().compute_score(gts, res)
    assert torch.allclose(torch.tensor(ours), torch.tensor(theirs, dtype=torch.float32), atol=1e-5)


def test_samples_end_and_carry_their_log_probability():
    torch.manual_seed(0)
    vocab = Vocabulary.build([c for refs in REFS for c in refs], min_count=1)
    decoder = AttentionDecoder(DecoderConfig(len(vocab), 8, 16, 16, 16, dropout=0.0))
    tokens, log_prob = sample(
        decoder, torch.randn(2, 4, 8), 3, 6, (0, 1, 3), vocab.end, vocab.start
    )
    assert tokens.shape[0] == 6 and tokens.shape[1] <= 7
    assert all(vocab.end in row for row in tokens.tolist())  # forced to end by max_length
    assert (log_prob < 0).all() and log_prob.requires_grad


def test_scst_raises_the_mean_reward():
    torch.manual_seed(0)
    vocab = Vocabulary.build([c for refs in REFS for c in refs], min_count=1)
    decoder = AttentionDecoder(DecoderConfig(len(vocab), 8, 32, 32, 32, dropout=0.0))
    features = torch.randn(len(REFS), 4, 8)
    cider = CiderD(REFS)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    rewards = [
        scst_epoch(
            decoder, optimizer, features, cider, vocab, 4, 8, 10, generator=generator
        ).mean_reward
        for _ in range(30)
    ]
    assert sum(rewards[-5:]) > 1.5 * sum(rewards[:5]), rewards
