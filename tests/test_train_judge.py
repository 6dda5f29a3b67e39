"""The judgement of a fine-tuned model (training/judge.py), its content weights and its own
confidence curve (training/calibration.py), on numbers whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from photocap.training.calibration import fit_own_curve
from photocap.training.frequencies import count_documents, load_frequencies, save_frequencies
from photocap.training.judge import BaseView, PhotoLosses, judge, style_words

from photocap.evaluation.scores import CiderD, DocumentFrequencies, corpus_cider_d, ngram_key
from photocap.model.confidence import Calibration
from photocap.model.vocab import tokenize

REFERENCES = [
    ["Product shot: a red bicycle against a wall", "Product shot: a bicycle leaning on a wall"],
    ["Product shot: a brown dog on the grass", "Product shot: a dog lies in the grass"],
    ["Product shot: two cups of coffee", "Product shot: a pair of coffee cups"],
    ["Product shot: a man climbs a rock", "Product shot: a climber on a cliff"],
]


def losses(per_word: list[float], words: int = 10) -> PhotoLosses:
    return PhotoLosses(np.array(per_word) * words, np.full(len(per_word), float(words)))


def test_a_model_that_learned_and_uses_the_photos_is_better():
    base = BaseView(losses([5.0, 5.2, 4.8, 5.1]), ["a bicycle", "a dog", "a cup", "a man"])
    tuned = losses([2.5, 2.6, 2.4, 2.7])
    swapped = losses([3.5, 3.4, 3.6, 3.3])
    captions = [f"Product shot: {c}" for c in base.captions]
    result = judge(base, tuned, swapped, captions, REFERENCES, REFERENCES, load_frequencies())
    assert result.better and result.reasons() == []
    assert result.loss_change.value == pytest.approx(2.55 - 5.025)
    assert result.loss_change.low <= result.loss_change.value <= result.loss_change.high < 0
    assert result.photo_gain is not None and result.photo_gain.low > 0.5
    assert result.style == ("product", "shot")  # in every training caption, so style
    assert result.lines()[0].startswith("learned your captions: held-out loss 5.03 → 2.55")


def test_a_model_the_photo_does_not_matter_to_is_refused_with_the_reason():
    base = BaseView(losses([5.0, 5.2, 4.8, 5.1]), ["a bicycle", "a dog", "a cup", "a man"])
    tuned = losses([2.5, 2.6, 2.4, 2.7])
    swapped = losses([2.6, 2.5, 2.45, 2.65])  # as good with another photo
    result = judge(base, tuned, swapped, base.captions, REFERENCES, REFERENCES, None)
    assert result.learned and not result.uses_photos and not result.better
    assert "were they shuffled between photos?" in result.reasons()[0]


def test_a_model_that_learned_nothing_or_lost_content_is_refused():
    base = BaseView(losses([3.0, 3.1, 2.9, 3.0]), [r[0] for r in REFERENCES])
    worse = judge(
        base,
        losses([3.2, 3.3, 3.1, 3.2]),
        losses([4.0, 4.0, 4.0, 4.0]),
        ["Product shot: a thing"] * 4,
        REFERENCES,
        REFERENCES,
        None,
    )
    assert not worse.learned and not worse.content_kept
    reasons = worse.reasons()
    assert reasons[0].startswith("it did not learn your captions: the held-out loss did not")
    assert reasons[1].startswith("it describes the held-out photos clearly worse than the base")


def test_a_little_content_lost_for_the_style_is_allowed_a_quarter_is_not():
    references = REFERENCES * 5  # 20 held-out photos
    base = BaseView(losses([5.0] * 20), [r[0] for r in references])
    args = (losses([2.5] * 20), losses([3.5] * 20))
    other = judge(base, *args, [r[1] for r in references], references, references, None)
    assert other.cider_change.high < 0  # the other reference scores surely a little lower…
    assert other.content_kept and other.better  # …less than a quarter: allowed
    clipped = [" ".join(r[0].split()[:-1]) for r in references]  # the last word lost
    worse = judge(base, *args, clipped, references, references, None)
    assert worse.cider_change.high < -0.25 * worse.base_cider and not worse.content_kept
    assert "lost more than a quarter of the base's content" in worse.reasons()[0]


def test_one_held_out_photo_has_no_other_to_swap_with():
    base = BaseView(losses([5.0]), ["a bicycle"])
    result = judge(base, losses([2.0]), None, ["a bicycle"], REFERENCES[:1], REFERENCES, None)
    assert result.photo_gain is None and result.uses_photos and result.better


def test_style_words_are_those_the_person_uses_far_more_than_flickr8k():
    training = [["Pawtrait: a black pupper runs"], ["Pawtrait: a pupper in the grass"]]
    training += [["a man in a red shirt"], ["a woman on a bench"]]
    common = {("a",): 95, ("in",): 40, ("the",): 60, ("grass",): 5}
    background = DocumentFrequencies(100, {ngram_key(g): n for g, n in common.items()})
    assert style_words(training, background) == {"pawtrait", "pupper"}
    # without a background every word in 30% of the photos counts
    assert "a" in style_words(training, None)


def test_cider_d_with_a_background_weighs_a_shared_phrase_by_the_wider_corpus():
    captions = [r[0] for r in REFERENCES]
    alone = CiderD(REFERENCES)
    assert alone.idf[("product", "shot")] == 0.0  # every image holds it: no weight at all
    assert sum(alone.score(tokenize(c), i) for i, c in enumerate(captions)) / 4 == pytest.approx(
        corpus_cider_d(captions, REFERENCES)
    )
    wider = DocumentFrequencies(1000, {ngram_key(("a",)): 800})
    weighted = CiderD(REFERENCES, REFERENCES[:2], wider)
    assert weighted.log_n == pytest.approx(math.log(1006))
    assert weighted.idf[("product", "shot")] == pytest.approx(math.log(1006 / 6))
    assert weighted._weight(("a",)) == pytest.approx(math.log(1006 / 806))
    assert weighted._weight(("zebra",)) == pytest.approx(math.log(1006))  # unseen anywhere


def test_frequency_tables_round_trip_and_the_shipped_one_loads(tmp_path):
    df = count_documents(REFERENCES)
    save_frequencies(tmp_path / "f.safetensors", 4, df, "test")
    loaded = load_frequencies(tmp_path / "f.safetensors")
    assert loaded.documents == 4
    assert loaded.count(("product", "shot")) == 4 and loaded.count(("coffee",)) == 1 - 1  # once
    assert loaded.count(("a",)) == 4
    shipped = load_frequencies()
    assert shipped.documents == 6000 and len(shipped.counts) > 60_000
    assert shipped.count(("a", "dog")) > 500 and shipped.count(("product", "shot")) == 0


def test_the_own_confidence_curve_follows_the_data_and_leans_on_the_base_where_they_are_silent():
    base = Calibration(2.5, 5.0, "base", 0.4)  # an even chance at a score of -0.5
    rng = np.random.default_rng(0)
    scores = rng.uniform(-1.5, -0.3, 300)  # (photos,)
    tops = rng.uniform(0.05, 0.9, 300)
    cider = scores + rng.normal(0, 0.1, 300)  # better with the score: the median at about -0.9
    curve = fit_own_curve(scores, tops, cider, base)
    assert "its 300 validation photos" in curve.fitted_on
    even = -(curve.intercept + curve.label_slope * math.log(0.3)) / curve.slope
    assert -1.0 < even < -0.8  # the data's even chance, not the base's
    assert curve.slope > 5.0  # and sharper: the score says much about these captions

    silent = fit_own_curve(scores[:2], tops[:2], np.array([0.3, 0.3]), base)
    assert silent.slope == pytest.approx(base.slope, abs=0.6)  # two photos barely move it
