"""Alt-text form: one capitalised sentence, a full stop, no "image of", about 125 characters."""

from __future__ import annotations

import pytest

from photocap.model.vocab import ALT_TEXT_CHARS, to_alt_text

LONG = (
    "a man in a black shirt is standing next to a man in a black shirt is standing next to "
    "a man with a blue shirt and black jacket"
)


@pytest.mark.parametrize(
    ("caption", "alt"),
    [
        ("a dog runs on the beach", "A dog runs on the beach."),
        ("a photo of a dog on the beach", "A dog on the beach."),
        ("an image of two children in the snow", "Two children in the snow."),
        ("the picture of a red car", "A red car."),
        ("photograph showing a bridge", "A bridge."),
        ("a close up photo of a cat", "A cat."),
        # "photo of" inside the sentence says something about the scene: kept
        ("a man taking a photo of a dog", "A man taking a photo of a dog."),
        ("photographers take a picture of a bride", "Photographers take a picture of a bride."),
    ],
)
def test_one_capitalised_sentence_without_image_of(caption, alt):
    assert to_alt_text(caption.split()) == alt


def test_a_long_caption_is_cut_at_a_phrase_or_word_boundary_within_125_characters():
    alt = to_alt_text(LONG.split())
    assert len(LONG) + 2 > ALT_TEXT_CHARS >= len(alt)
    assert alt == (
        "A man in a black shirt is standing next to a man in a black shirt is standing next to "
        "a man with a blue shirt."
    )
    sentence = "a dog runs along the beach near the water on a sunny day"
    words = sentence.split() * 3
    alt = to_alt_text(words)
    assert len(alt) <= ALT_TEXT_CHARS and alt.endswith(".") and alt.count(".") == 1
    stem = alt[:-1].lower()
    assert " ".join(words).startswith(stem)  # a prefix of the caption, whole words only
    assert " ".join(words)[len(stem)] == " "
    assert stem.split()[-1] not in {"a", "an", "the", "and", "on", "near", "with", "of"}


def test_limits_and_edge_cases():
    assert len(to_alt_text(["word"] * 100)) <= ALT_TEXT_CHARS
    assert len(to_alt_text(["w" * 300])) == ALT_TEXT_CHARS  # one endless word: cut hard
    assert to_alt_text(["a", "dog"], max_chars=250) == "A dog."
    assert to_alt_text([]) == ""
    assert to_alt_text(["a", "dog", ",", "running"]) == "A dog, running."
