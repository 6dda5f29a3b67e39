"""photocap's own BLEU and CIDEr-D equal the COCO caption evaluation code's (pycocoevalcap)."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest

from photocap.evaluation.scores import corpus_bleu, corpus_cider_d, quick_scores
from photocap.model.vocab import tokenize

REFS = [
    ["A dog runs on the beach .", "A brown dog running on sand .", "Dog at the beach ."],
    ["A man rides a bike .", "A person on a bicycle .", "Man cycling down a street ."],
    ["Two kids play in snow .", "Children playing in the snow .", "Kids in snow ."],
    ["A girl climbs the stairs .", "A little girl on a staircase .", "Girl going up stairs ."],
    ["Product shot: a teapot", "Product shot: a blue teapot on a table", "A teapot, blue."],
    ["A cat .", "A cat sleeping on a sofa in the sun ."],
]
HYPOTHESES = [
    "a dog runs on the sand",
    "a a a a man man",  # repeats: matches clipped at the references' counts
    "kids",  # far shorter than any reference: brevity penalty, no 2- to 4-grams
    "a girl a girl climbs the stairs up the stairs",
    "Product shot: a blue teapot",
    "a zebra eating grass in a field",  # nothing in common: CIDEr 0
]


def theirs(hypotheses: list[str], references: list[list[str]]) -> tuple[list[float], float]:
    """pycocoevalcap's BLEU-1..4 and CIDEr of the same words (photocap's tokenizer)."""
    bleu_mod = pytest.importorskip("pycocoevalcap.bleu.bleu")
    cider_mod = pytest.importorskip("pycocoevalcap.cider.cider")
    res = {str(i): [" ".join(tokenize(h))] for i, h in enumerate(hypotheses)}
    gts = {str(i): [" ".join(tokenize(r)) for r in refs] for i, refs in enumerate(references)}
    bleu, _ = bleu_mod.Bleu(4).compute_score(gts, res, verbose=0)
    cider, _ = cider_mod.Cider().compute_score(gts, res)
    return [float(b) for b in bleu], float(cider)


def assert_equal_to_pycocoevalcap(hypotheses: list[str], references: list[list[str]]) -> None:
    their_bleu, their_cider = theirs(hypotheses, references)
    assert corpus_bleu(hypotheses, references) == pytest.approx(their_bleu, rel=0, abs=1e-9)
    assert corpus_cider_d(hypotheses, references) == pytest.approx(their_cider, rel=0, abs=1e-9)
    quick = quick_scores(
        {f"img{i}": h for i, h in enumerate(hypotheses)},
        {f"img{i}": refs for i, refs in enumerate(references)},
    )
    assert quick == pytest.approx({"BLEU-4": their_bleu[3], "CIDEr": their_cider}, rel=0, abs=1e-9)


def test_hand_made_set_scores_as_pycocoevalcap():
    assert_equal_to_pycocoevalcap(HYPOTHESES, REFS)
    bleu = corpus_bleu(HYPOTHESES, REFS)
    assert 0 < bleu[3] < bleu[2] < bleu[1] < bleu[0] < 1
    assert 0 < corpus_cider_d(HYPOTHESES, REFS) < 10


def test_each_hand_made_image_alone_scores_as_pycocoevalcap():
    """One image per corpus: every document frequency is 1, so CIDEr is 0; BLEU's length rules
    (the closest reference, the shorter on a tie, the brevity penalty) act image by image."""
    for hypothesis, refs in zip(HYPOTHESES, REFS, strict=True):
        assert_equal_to_pycocoevalcap([hypothesis], [refs])
    tie = ["a b c d", ["a b c d e f", "a b"]]  # 4 words: references of 6 and 2 are equally close
    assert_equal_to_pycocoevalcap([tie[0]], [tie[1]])
    # the shorter (2) is taken: no brevity penalty, BLEU-1 is the plain precision 4/4
    assert corpus_bleu([tie[0]], [tie[1]])[0] == pytest.approx(1.0)


def test_a_perfect_hypothesis_and_a_wrong_one():
    refs = [["a dog runs on the beach"], ["a man rides a bike"]]
    assert corpus_bleu(["a dog runs on the beach", "a man rides a bike"], refs)[3] == (
        pytest.approx(1.0)
    )
    assert corpus_bleu(["three cats", "two cats"], refs)[3] == pytest.approx(0.0, abs=1e-6)
    assert corpus_cider_d(["three cats", "two cats"], refs) == 0.0


def flickr8k_dev(flickr8k: Path, images: int = 500) -> list[list[str]]:
    """The five captions of each of the first `images` dev images."""
    captions: dict[str, list[str]] = defaultdict(list)
    with open(flickr8k / "captions.txt", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            captions[row["image"]].append(row["caption"])
    names = (flickr8k / "splits" / "dev.txt").read_text().split()[:images]
    return [captions[name] for name in names]


@pytest.mark.shared
def test_flickr8k_dev_scores_as_pycocoevalcap(flickr8k):
    """500 dev images: each image's first caption is the hypothesis, the other four its references;
    then each image's hypothesis is the next image's first caption (a poor, unrelated one)."""
    dev = flickr8k_dev(flickr8k)
    held_out = [captions[0] for captions in dev]
    references = [captions[1:] for captions in dev]
    assert_equal_to_pycocoevalcap(held_out, references)
    unrelated = held_out[1:] + held_out[:1]
    assert_equal_to_pycocoevalcap(unrelated, references)
    human = quick_scores(dict(enumerate(held_out)), dict(enumerate(references)))
    poor = quick_scores(dict(enumerate(unrelated)), dict(enumerate(references)))
    assert human["BLEU-4"] > 0.15 and human["CIDEr"] > 0.5  # a person's caption scores well…
    assert poor["BLEU-4"] < 0.5 * human["BLEU-4"] and poor["CIDEr"] < 0.2 * human["CIDEr"]
