"""Object evidence: the shipped detectors load for the shipped encoder, steer beam search away
from unsupported object words, and travel with each caption."""

from __future__ import annotations

import pytest
import torch

from photocap.captioner import load_captioner
from photocap.model.beam import DecodeOptions, beam_search
from photocap.model.evidence import class_groups, load_evidence
from photocap.model.objects import object_table
from photocap.paths import evidence_file


@pytest.fixture(scope="module")
def captioner():
    return load_captioner(None, "cpu", "fp32")


def test_the_shipped_detectors_fit_the_shipped_encoder(captioner):
    evidence = captioner.evidence
    assert evidence is not None
    assert {"person", "dog", "ball", "bicycle", "water", "grass", "snow"} <= {
        g
        for g, trained in zip(evidence.groups, evidence.detectors.trained.tolist(), strict=True)
        if trained
    }
    assert evidence.groups == tuple(g.name for g in object_table().groups)
    auc = evidence.record["auc"]
    assert auc["person"]["dev_auc"] > 0.9 and auc["dog"]["dev_auc"] > 0.95
    with pytest.raises(Exception, match="another encoder"):
        load_evidence(evidence_file(), fingerprint="0" * 16)


def test_the_head_gives_evidence_of_the_groups_its_classes_name():
    groups = tuple(g.name for g in object_table().groups)
    mapping = class_groups(groups)
    dog, cat = groups.index("dog"), groups.index("cat")
    assert int((mapping == dog).sum()) >= 110  # the dog breeds
    assert int(mapping[281]) == cat  # tabby
    assert int(mapping[934]) == groups.index("hot dog")  # a hot dog is food, not a dog


def test_word_bias_penalises_unsupported_object_words_only(captioner):
    evidence = captioner.evidence
    vocab = captioner.info.vocabulary
    words = evidence.word_groups(vocab.words)
    person = evidence.groups.index("person")
    p = torch.full((2, len(evidence.groups)), 0.9)
    p[1, person] = 0.01  # the second photo shows no person
    bias = evidence.word_bias(p, words)  # (2, vocab)
    man, runs = vocab.words.index("man"), vocab.words.index("runs")
    assert bias[0, man] == 0 and bias[1, runs] == 0
    assert bias[1, man] == pytest.approx(
        evidence.steering.weight * torch.log(torch.tensor(0.01 / evidence.steering.floor))
    )


def test_beam_search_with_a_bias_never_says_a_masked_word(captioner):
    vocab = captioner.info.vocabulary
    features = torch.randn(2, 81, 1280).abs()  # (batch, num_pixels, dim)
    options = DecodeOptions()
    plain = beam_search(captioner.decoder, features, options, captioner._banned, 1, 2)
    said = {w for tokens in plain.tokens for w in tokens}
    bias = torch.zeros(2, len(vocab))
    bias[:, list(said)] = -1e4  # every word it said: forbidden now
    steered = beam_search(captioner.decoder, features, options, captioner._banned, 1, 2, bias)
    for tokens in steered.tokens:
        assert not said & set(tokens)


def test_captions_carry_their_evidence_and_steering_can_be_turned_off(captioner, real_photos):
    from PIL import Image

    photo = Image.open(real_photos["chelsea"]).convert("RGB")
    steered = captioner.describe_images([photo])[0].caption
    assert steered.objects is not None and steered.objects["cat"] > 0.9
    unsteered = captioner.describe_images([photo], DecodeOptions(evidence=False))[0].caption
    assert unsteered.objects == steered.objects  # evidence is reported either way
