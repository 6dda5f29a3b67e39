"""The captioning model: encoder weights, decoder training, decoding, checkpoints."""

from __future__ import annotations

import pickle
import zipfile

import pytest
import torch
from photocap.training.data import encode_batch
from PIL import Image

from photocap.errors import ModelError
from photocap.model.beam import DecodeOptions, beam_search
from photocap.model.checkpoint import ModelInfo, load_model, read_info, save_model
from photocap.model.decoder import AttentionDecoder, DecoderConfig
from photocap.model.encoders import Encoder, get_spec, load_pretrained_encoder, map_state_in_order
from photocap.model.transforms import to_tensor
from photocap.model.vocab import Vocabulary, to_alt_text, tokenize

CAPTIONS = [
    "A dog runs on the beach .",
    "A black dog is running along the sand .",
    "A cat sits on a red mat .",
    "Two children play in the snow .",
    "A man rides a bicycle down the street .",
    "A girl in a pink dress climbs the stairs .",
]


def tiny_decoder(vocab: Vocabulary, encoder_dim: int = 16, seed: int = 0) -> AttentionDecoder:
    torch.manual_seed(seed)
    return AttentionDecoder(DecoderConfig(len(vocab), encoder_dim, 24, 24, 32, dropout=0.0))


def test_tokenize_and_alt_text():
    assert tokenize("A dog's ball, on the BEACH .") == ["a", "dog's", "ball", "on", "the", "beach"]
    assert to_alt_text(["a", "dog", "runs"]) == "A dog runs."
    long = to_alt_text(["word"] * 100)
    assert len(long) <= 250 and long.endswith(".") and "word." in long
    assert to_alt_text([]) == ""


def test_vocabulary_build_encode_decode_and_extend():
    vocab = Vocabulary.build(CAPTIONS, min_count=2)
    assert vocab.words[:4] == ("<pad>", "<start>", "<end>", "<unk>")
    assert "dog" in vocab.words and "bicycle" not in vocab.words  # seen once
    ids = vocab.encode("A dog rides a bicycle")
    assert ids[0] == vocab.start and ids[-1] == vocab.end and vocab.unk in ids
    assert vocab.decode(ids[1:]) == ["a", "dog", "a"]  # <unk> never shown
    bigger = vocab.extended(["a zebra zebra", "zebra"], min_count=2)
    assert bigger.words[: len(vocab)] == vocab.words and bigger.words[len(vocab)] == "zebra"


def test_a_house_style_keeps_its_punctuation_where_the_vocabulary_has_it():
    text = "Product shot: a red mug, on white; studio light!"
    assert tokenize(text) == [
        "product",
        "shot",
        "a",
        "red",
        "mug",
        "on",
        "white",
        "studio",
        "light",
    ]
    assert tokenize(text, punctuation=True)[:4] == ["product", "shot", ":", "a"]
    shipped = Vocabulary.build([text, text], min_count=2)  # without marks: they are dropped
    assert (
        ":" not in shipped.words and ":" in Vocabulary.build([text] * 2, 2, punctuation=True).words
    )
    assert shipped.decode(shipped.encode(text)) == tokenize(text)
    styled = shipped.extended([text, text], punctuation=True)  # fine-tuning's extension
    assert styled.words[: len(shipped)] == shipped.words
    assert set(styled.words[len(shipped) :]) == {",", ":", ";"}
    assert to_alt_text(styled.decode(styled.encode(text))) == (
        "Product shot: a red mug, on white; studio light."
    )
    # a model may emit marks anywhere: none leads, none doubles, none ends before the period
    assert to_alt_text([":", "a", ",", ";", "dog", ",", "runs", ":"]) == "A, dog, runs."
    assert to_alt_text([",", ":"]) == ""


@pytest.mark.slow
def test_lite2_imagenet_weights_classify_chelsea_as_a_cat():
    from skimage import data

    encoder = load_pretrained_encoder("efficientnet_lite2").eval()
    image = to_tensor(Image.fromarray(data.chelsea()), encoder.spec, via=None)
    with torch.inference_mode():
        top = encoder.classify(image[None]).softmax(1)[0].topk(3).indices.tolist()
    cat_classes = set(range(281, 286))  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    assert top[0] in cat_classes, top
    grid = encoder(image[None])
    assert grid.shape == (1, 81, 1280)  # 260 px input → 9×9 grid


def test_weight_mapping_checks_every_shape(tmp_path):
    target = {"a.weight": torch.zeros(2, 3), "b.bias": torch.zeros(4)}
    good = {"x": torch.ones(2, 3), "y": torch.ones(4)}
    assert map_state_in_order(target, good, tmp_path)["b.bias"].sum() == 4
    with pytest.raises(ModelError, match="shape"):
        map_state_in_order(target, {"x": torch.ones(3, 2), "y": torch.ones(4)}, tmp_path)
    with pytest.raises(ModelError, match="tensors"):
        map_state_in_order(target, {"x": torch.ones(2, 3)}, tmp_path)


def test_unknown_encoder_and_missing_resnet_weights_say_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(ModelError, match="unknown encoder"):
        get_spec("vgg16")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty torchvision cache: nothing to find
    with pytest.raises(ModelError, match="--encoder-weights"):
        load_pretrained_encoder("resnet18")


def test_resnet_weights_from_a_named_file(tmp_path):
    import torchvision

    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    encoder = load_pretrained_encoder("resnet18", path)
    assert torch.equal(encoder.backbone.conv1.weight, reference.conv1.weight)
    assert encoder(torch.zeros(1, 3, 224, 224)).shape == (1, 49, 512)


def test_tiny_decoder_learns_a_handful_of_captions():
    vocab = Vocabulary.build(CAPTIONS, min_count=1)
    decoder = tiny_decoder(vocab)
    features = torch.randn(len(CAPTIONS), 9, 16)
    captions, lengths = encode_batch(CAPTIONS, vocab, 30)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=1e-2)

    def loss() -> torch.Tensor:
        logits, _ = decoder(features, captions, lengths)  # (B, T, V)
        return torch.nn.functional.cross_entropy(
            logits.reshape(-1, len(vocab)), captions[:, 1:].reshape(-1), ignore_index=vocab.pad
        )

    first = float(loss().detach())
    for _ in range(40):
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
    assert float(loss().detach()) < first * 0.3
    decoded = beam_search(
        decoder.eval(), features, DecodeOptions(3), (0, 1, 3), vocab.start, vocab.end
    )
    assert to_alt_text(vocab.decode(decoded.tokens[0])) == "A dog runs on the beach."


def greedy_reference(decoder, features, banned, start, end, max_length=30):
    """A plain one-image-at-a-time greedy decoder to compare beam search against."""
    out = []
    with torch.no_grad():
        for f in features:
            f = f[None]
            state, projected = decoder.init_state(f), decoder.attention.encoder_proj(f)
            token, words = torch.tensor([start]), []
            for _ in range(max_length + 1):
                logits, state, _ = decoder.step(token, state, f, projected)
                logits[:, list(banned) + ([end] if not words else [])] = float("-inf")
                token = logits.argmax(1)
                if int(token) == end:
                    break
                words.append(int(token))
            out.append(words)
    return out


def test_beam_one_equals_greedy_and_wider_beams_score_at_least_as_well():
    vocab = Vocabulary.build(CAPTIONS, min_count=1)
    decoder = tiny_decoder(vocab, seed=3).eval()
    features = torch.randn(5, 9, 16)
    banned = (vocab.pad, vocab.start, vocab.unk)
    plain = {"no_repeat_ngram": 0, "no_word_twice": False}  # the reference allows repeats
    greedy = beam_search(decoder, features, DecodeOptions(1, max_length=12, **plain), banned, 1, 2)
    assert greedy.tokens == greedy_reference(decoder, features, banned, 1, 2, max_length=12)
    beam = beam_search(
        decoder,
        features,
        DecodeOptions(4, max_length=12, length_penalty=0.0, **plain),
        banned,
        1,
        2,
    )
    finished = [len(t) < 13 for t in greedy.tokens]
    for g, b, done in zip(greedy.log_probs, beam.log_probs, finished, strict=True):
        if done:
            assert b >= g - 1e-5
    for tokens, alphas in zip(beam.tokens, beam.alphas, strict=True):
        assert not set(tokens) & set(banned)
        assert alphas.shape == (len(tokens), 9)


def _tiny_model_file(tmp_path):
    vocab = Vocabulary.build(CAPTIONS, min_count=1)
    encoder = Encoder(get_spec("resnet18"))
    decoder = tiny_decoder(vocab, encoder_dim=512)
    info = ModelInfo("tiny", "resnet18", decoder.config, vocab, metrics={"x": {"CIDEr": 0.1}})
    return save_model(tmp_path / "tiny.safetensors", info, encoder, decoder), encoder, decoder


def test_checkpoint_round_trips(tmp_path):
    path, encoder, decoder = _tiny_model_file(tmp_path)
    loaded = load_model(path)
    assert loaded.info.vocabulary == Vocabulary.build(CAPTIONS, min_count=1)
    assert loaded.info.metrics == {"x": {"CIDEr": 0.1}}
    assert read_info(path).decoder == decoder.config
    for name, tensor in decoder.state_dict().items():
        assert torch.allclose(loaded.decoder.state_dict()[name], tensor, atol=1e-3), name
    conv = loaded.encoder.backbone.conv1.weight
    assert conv.dtype == torch.float32 and torch.allclose(
        conv, encoder.backbone.conv1.weight, atol=1e-3
    )
    assert loaded.model_id.startswith("tiny@")


def test_pickle_and_corrupt_model_files_are_refused(tmp_path):
    path, _, _ = _tiny_model_file(tmp_path)
    torch_file = tmp_path / "model.pt"
    torch.save({"weights": torch.zeros(2)}, torch_file)
    assert zipfile.is_zipfile(torch_file)
    raw_pickle = tmp_path / "model.pkl"
    raw_pickle.write_bytes(pickle.dumps({"a": 1}))
    for bad in (torch_file, raw_pickle):
        with pytest.raises(ModelError, match="pickle"):
            load_model(bad)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelError, match="corrupt"):
        load_model(truncated)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(ModelError, match="not a photocap model"):
        load_model(garbage)
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "missing.safetensors")


def test_a_header_length_that_starts_like_a_pickle_is_still_safetensors(tmp_path):
    """A safetensors file's first byte is its header length's low byte: 0x80 is a pickle's first
    byte too, and such a model file must load all the same."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    path, _, _ = _tiny_model_file(tmp_path)
    with safe_open(str(path), "pt") as f:
        metadata = f.metadata()
    tensors = load_file(str(path))
    padded = tmp_path / "padded.safetensors"
    for pad in range(256):
        save_file(tensors, str(padded), metadata=metadata | {"pad": "x" * pad})
        if padded.read_bytes()[0] == 0x80:
            break
    assert padded.read_bytes()[0] == 0x80
    assert read_info(padded).name == "tiny" and load_model(padded).model_id.startswith("tiny@")
