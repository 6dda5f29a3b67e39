"""Labels: the encoder's ImageNet head in the captioning pass, and the reviewed everyday-word table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from photocap.training.recipes.imagenet_words import STOP_WORDS, WORDNET, build_table, read_nouns
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from photocap.captioner import load_captioner
from photocap.model.beam import DecodeOptions
from photocap.model.checkpoint import IMAGENET_1K, ModelInfo, read_info
from photocap.model.labels import (
    NUM_CLASSES,
    LabelOptions,
    imagenet_classes,
    label_words,
    top_labels,
)

# Words that mean nothing to someone searching photos (WordNet's upper ontology and jargon).
MEANINGLESS = STOP_WORDS | {
    "placental mammal",
    "eutherian mammal",
    "canine",
    "carnivore",
    "ungulate",
    "passerine",
    "oscine",
    "diapsid",
    "teleost",
    "durables",
    "consumer goods",
    "self-propelled vehicle",
    "wheeled vehicle",
}


def words_of(wnid: str) -> tuple[str, ...]:
    return next(c.words for c in imagenet_classes() if c.wnid == wnid)


def test_the_table_covers_the_1000_classes_in_classifier_order():
    classes = imagenet_classes()
    assert [c.index for c in classes] == list(range(NUM_CLASSES))
    wnids = [c.wnid for c in classes]
    assert wnids == sorted(set(wnids)) and all(w.startswith("n") and len(w) == 9 for w in wnids)
    assert all(c.name and c.words and c.words[0] == c.name for c in classes)


def test_the_table_has_no_meaningless_words():
    found = {w for c in imagenet_classes() for w in c.words if w.lower() in MEANINGLESS}
    assert found == set()
    assert all(len(c.words) == len({w.lower() for w in c.words}) for c in imagenet_classes())


@pytest.mark.parametrize(
    "wnid, wanted, unwanted",
    [
        ("n02123045", {"tabby", "cat", "pet", "animal"}, set()),
        ("n07873807", {"pizza", "food"}, set()),
        ("n09428293", {"seashore", "beach", "coast", "sea"}, set()),
        ("n04146614", {"school bus", "bus", "vehicle"}, set()),
        ("n01608432", {"kite", "bird of prey", "bird"}, {"toy"}),  # the bird, not the toy
        ("n02012849", {"crane", "bird"}, {"construction site"}),
        ("n03126707", {"crane", "construction site"}, {"bird", "animal"}),
        ("n01847000", {"drake", "duck", "bird"}, set()),
        ("n02389026", {"sorrel", "horse", "animal"}, set()),
        ("n07697537", {"hot dog", "food"}, {"dog", "pet"}),
        ("n03793489", {"computer mouse", "computer"}, {"rodent", "animal"}),
        ("n03832673", {"laptop", "computer"}, set()),
        ("n02963159", {"cardigan", "sweater", "clothing"}, {"dog"}),
        ("n02113186", {"Cardigan", "corgi", "dog", "pet"}, {"sweater"}),
        ("n02108089", {"boxer", "dog"}, set()),
        ("n03710721", {"swimsuit"}, set()),
        ("n03590841", {"jack-o'-lantern", "pumpkin", "Halloween"}, set()),
        ("n09229709", {"bubble"}, set()),
        ("n02123159", {"tiger cat", "cat", "pet"}, {"wildlife"}),
        ("n02497673", {"ring-tailed lemur", "lemur"}, {"cat"}),
        ("n04285008", {"sports car", "car", "vehicle"}, set()),
    ],
)
def test_reviewed_rows(wnid: str, wanted: set[str], unwanted: set[str]):
    words = set(words_of(wnid))
    assert wanted <= words and not unwanted & words, words


def test_every_dog_breed_is_a_dog_and_a_pet():
    classes = imagenet_classes()
    breeds = classes[151:269]  # ImageNet-1k's dogs: Chihuahua … Mexican hairless
    assert (breeds[0].name, breeds[-1].name) == ("Chihuahua", "Mexican hairless")
    assert all({"dog", "pet", "animal"} <= set(c.words) for c in breeds)
    assert sum("dog" in c.words for c in classes) == len(breeds)  # and nothing else is a dog


@pytest.mark.skipif(
    not (WORDNET / "data.noun").exists(), reason="WordNet 3.0 (wordnet-base) absent"
)
def test_the_recipe_recreates_the_shipped_table():
    classes = imagenet_classes()
    rows = build_table([c.wnid for c in classes], read_nouns(WORDNET))
    assert rows == [(c.wnid, c.name, list(c.words)) for c in classes]


def test_top_labels_keep_the_top_k_above_the_threshold():
    logits = torch.full((2, NUM_CLASSES), -10.0)  # (batch, 1000)
    logits[0, 281], logits[0, 282], logits[0, 285] = 5.0, 4.0, 1.0  # tabby, tiger cat, Egyptian cat
    found = top_labels(logits, LabelOptions(top_k=5, min_probability=0.1))
    assert [label.name for label in found[0]] == ["tabby", "tiger cat"]
    assert found[0][0].probability > found[0][1].probability > 0.1
    assert found[1] == ()  # nothing stands out in a flat distribution
    assert label_words(found[0])[:4] == ["tabby", "tabby cat", "cat", "pet"]


@pytest.fixture(scope="module")
def captioner(shipped_model: Path):
    return load_captioner(shipped_model, device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def cat() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.chelsea())


def test_a_real_cat_photo_is_labelled_cat_in_the_captioning_pass(captioner, cat):
    calls = []
    hook = captioner.encoder.register_forward_hook(lambda *args: calls.append(1))
    try:
        [described] = captioner.describe_images([cat], DecodeOptions(beam_size=3))
    finally:
        hook.remove()
    assert len(calls) == 1  # one encoder pass gives both the caption and the labels
    assert described.labels and "cat" in label_words(described.labels)
    assert described.labels[0].probability >= LabelOptions().min_probability
    # the caption is the one caption_images gives: existing callers see no change
    [caption] = captioner.caption_images([cat], DecodeOptions(beam_size=3))
    assert (described.caption.text, described.caption.score) == (caption.text, caption.score)


def test_labels_from_the_pooled_features_equal_the_backbones_own_classification(captioner, cat):
    batch = captioner.prepare(cat)[None]  # (1, 3, S, S)
    with torch.inference_mode():
        reference = captioner.encoder.classify(batch).softmax(-1)  # (1, 1000)
        features = captioner.encode(batch)  # (1, P, D)
    [labels] = captioner.label_features(features, LabelOptions(top_k=5, min_probability=0.0))
    top = reference[0].topk(5)
    assert [label.index for label in labels] == top.indices.tolist()
    assert [label.probability for label in labels] == pytest.approx(top.values.tolist(), abs=1e-4)


def test_a_model_without_an_imagenet_head_gives_no_labels(tiny_model: Path, cat, tmp_path: Path):
    tiny = load_captioner(tiny_model, device="cpu")  # a random ResNet: its head means nothing
    assert tiny.head is None
    [described] = tiny.describe_images([cat], DecodeOptions(beam_size=1))
    assert described.labels == () and described.caption.text

    # an older file without the head's tensors loads and gives no labels, not an error
    with safe_open(str(tiny_model), "pt") as f:
        metadata = f.metadata()
    tensors = {
        k: v for k, v in load_file(str(tiny_model)).items() if not k.startswith("encoder.fc.")
    }
    info = json.loads(metadata["info"])
    info["classifier"] = IMAGENET_1K
    headless = tmp_path / "headless.safetensors"
    save_file(tensors, str(headless), metadata=metadata | {"info": json.dumps(info)})
    assert read_info(headless).classifier == IMAGENET_1K
    model = load_captioner(headless, device="cpu")
    assert model.head is None and model.describe_images([cat])[0].labels == ()


def test_files_from_before_the_classifier_field(shipped_model: Path):
    assert read_info(shipped_model).classifier == IMAGENET_1K  # made by a recipe from ImageNet
    raw = json.loads(ModelInfo.to_json(read_info(shipped_model)))
    del raw["classifier"]
    assert ModelInfo.from_json(json.dumps(raw)).classifier == IMAGENET_1K
    raw["training"] = {}
    assert ModelInfo.from_json(json.dumps(raw)).classifier is None
