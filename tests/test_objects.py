"""Object words folded into synonym groups, CHAIR, and the label line (no model needed)."""

from __future__ import annotations

import pytest

from photocap.alt_text import LabelLineOptions, is_label_line, label_line
from photocap.evaluation.hallucination import chair, reference_objects
from photocap.model.objects import SCENE, object_table
from photocap.store.records import StoredLabel


@pytest.mark.parametrize(
    ("caption", "groups"),
    [
        ("A man and two women ride bikes.", ["person", "person", "bicycle"]),
        ("A boy eats a hot dog.", ["person", "hot dog"]),  # a hot dog is no dog
        ("A girl hugs her teddy bear.", ["person", "toy"]),  # a teddy bear is no bear
        ("The dog's ball is red.", ["dog", "ball"]),
        ("Children play near a dirt bike.", ["person", "motorcycle"]),
        ("A skier and a snowboarder on the snowy hill.", ["person", "person", "snow", "mountain"]),
        ("A puppy and a kitten.", ["dog", "cat"]),
        ("An orange shirt.", []),  # a colour, not a fruit
    ],
)
def test_mentions_fold_words_into_groups_longest_name_first(caption, groups):
    assert [g for g, _ in object_table().mentions(caption)] == groups


def test_every_group_has_words_and_a_kind_and_no_word_names_two_groups():
    table = object_table()
    seen: dict[str, str] = {}
    for group in table.groups:
        assert group.words, group.name
        assert group.kind in {"person", "animal", "vehicle", "food", "furniture", "object", SCENE}
        for word in group.words:
            assert seen.setdefault(word, group.name) == group.name, word
    people = set(table.group("person").words)
    assert {"man", "men", "woman", "women", "child", "children", "people", "player"} <= people
    assert not {"whale", "grey", "tiger", "monitor", "boxer"} & people  # odd WordNet senses


def test_chair_counts_captions_and_mentions_of_objects_the_photo_does_not_hold():
    truths = reference_objects([["A man walks his dog on the beach."], ["A cat on a sofa."]])
    assert truths == [{"person", "dog", "sand"}, {"cat", "couch"}]
    captions = ["A man and a dog in the water.", "A woman sits on a couch with a dog."]
    score, wrong = chair(captions, truths)
    # water is a scene (counted only with scenes=True); the second caption invents two objects
    assert (score.captions, score.mentions, score.hallucinated) == (2, 5, 2)
    assert score.chair_s == 0.5 and score.chair_i == pytest.approx(2 / 5)
    assert wrong == [[], ["dog", "person"]]
    with_scenes, _ = chair(captions, truths, scenes=True)
    assert with_scenes.hallucinated == 3


def test_label_line_names_only_sure_objects_with_their_label_word():
    options = LabelLineOptions(min_evidence=0.8, min_label=0.5)
    espresso = StoredLabel(967, "espresso", 0.7)
    line = label_line(
        {"drink": 0.9, "cup": 0.85, "person": 0.4, "water": 0.99}, (espresso,), options
    )
    assert line == "May show: an espresso, a cup."  # no person (unsure), no scene
    assert is_label_line(line)
    assert label_line({"person": 0.79}, (), options) is None
    assert label_line(None, (), options) is None
    assert label_line({"person": 0.95, "dog": 0.9}, (), options) == "May show: a person, a dog."
