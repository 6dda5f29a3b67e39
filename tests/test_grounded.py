"""The grounded decoder: ImageNet labels as input, a copy path over their words, its model files."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from photocap.training.data import encode_batch
from photocap.training.vocab_growth import extend_decoder
from torch import nn

from photocap.model.beam import DecodeOptions, beam_search
from photocap.model.checkpoint import ModelInfo, load_model, read_info, save_model
from photocap.model.decoder import AttentionDecoder, DecoderConfig
from photocap.model.encoders import Encoder, get_spec
from photocap.model.grounded import (
    GroundedDecoder,
    build_decoder,
    grounded_config,
    grounded_from_plain,
)
from photocap.model.grounding import class_copy_words, class_word_ids, grounded_vocabulary
from photocap.model.labels import imagenet_classes
from photocap.model.vocab import Vocabulary

DIM = 16
CLASS = {name: c.index for c in imagenet_classes() for name in [c.name]}
DOG, HORSE, CAT = CLASS["golden retriever"], CLASS["sorrel"], CLASS["tabby"]
TRAIN = ["a dog runs on the grass", "a horse runs on the grass"]


def tiny(vocab: Vocabulary, seed: int = 0) -> GroundedDecoder:
    """A small grounded decoder whose head sees class DOG, HORSE or CAT in feature 0, 1 or 2."""
    torch.manual_seed(seed)
    config = replace_sizes(grounded_config(len(vocab), DIM))
    decoder = GroundedDecoder(config)
    head = nn.Linear(DIM, 1000)
    with torch.no_grad():
        head.weight.normal_(0, 0.01)
        head.bias.zero_()
        for axis, cls in enumerate((DOG, HORSE, CAT)):
            head.weight[cls, axis] = 12.0  # one clear class per photo
    decoder.set_head(head, class_word_ids(vocab))
    return decoder


def replace_sizes(config: DecoderConfig) -> DecoderConfig:
    return replace(config, embed_dim=32, attention_dim=32, hidden_dim=32, dropout=0.0)


def photo(axis: int, batch: int = 1) -> torch.Tensor:
    """Features of `batch` photos whose classifier sees class number `axis`: (batch, 4, DIM)."""
    features = torch.zeros(batch, 4, DIM)
    features[:, :, axis] = 1.0
    features[:, :, 3:] = torch.rand(batch, 4, DIM - 3) * 0.1
    return features


def test_copy_words_name_the_thing_not_its_category():
    words = class_copy_words()
    assert words[CAT] == "cat" and words[HORSE] == "horse" and words[DOG] == "dog"
    assert words[CLASS["canoe"]] == "boat" and words[CLASS["magpie"]] == "bird"
    assert words[CLASS["banana"]] == "banana" and words[CLASS["taxi"]] == "car"


def test_grounded_vocabulary_appends_copy_words_and_maps_classes():
    vocab = Vocabulary.build(TRAIN, min_count=1)
    grown = grounded_vocabulary(vocab)
    assert grown.words[: len(vocab)] == vocab.words  # old ids unchanged
    assert "cat" in grown.words and "cat" not in vocab.words
    ids = class_word_ids(grown)
    assert grown.words[int(ids[CAT])] == "cat" and grown.words[int(ids[DOG])] == "dog"


def test_forward_gives_log_probabilities_of_every_word_and_attention():
    vocab = grounded_vocabulary(Vocabulary.build(TRAIN, min_count=1))
    decoder = tiny(vocab)
    captions, lengths = encode_batch(TRAIN, vocab, 30)  # (2, 8), (2,)
    features = torch.cat([photo(0), photo(1)])  # (2, 4, DIM)
    for mode in (decoder.train, decoder.eval):
        mode()
        log_probs, alphas = decoder(features, captions, lengths)
        assert log_probs.shape == (2, captions.shape[1] - 1, len(vocab))
        assert alphas.shape == (2, captions.shape[1] - 1, 4)
        total = log_probs[:, 0].exp().sum(dim=1)  # (2,)
        assert torch.allclose(total, torch.ones(2), atol=1e-4)


def train_tiny(decoder: GroundedDecoder, vocab: Vocabulary, steps: int = 150) -> None:
    captions, lengths = encode_batch(TRAIN * 4, vocab, 30)  # (8, T)
    features = torch.cat([photo(0, 4), photo(1, 4)])[[0, 4, 1, 5, 2, 6, 3, 7]]  # dog, horse, …
    optimizer = torch.optim.Adam(decoder.parameters(), lr=5e-3)
    decoder.train()
    for _ in range(steps):
        log_probs, _ = decoder(features, captions, lengths)
        targets = captions[:, 1 : log_probs.shape[1] + 1]
        loss = nn.functional.nll_loss(
            log_probs.reshape(-1, len(vocab)), targets.reshape(-1), ignore_index=vocab.pad
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    decoder.eval()


def caption(decoder: GroundedDecoder, vocab: Vocabulary, features: torch.Tensor) -> list[str]:
    banned = (vocab.pad, vocab.start, vocab.unk)
    decoded = beam_search(decoder, features, DecodeOptions(), banned, vocab.start, vocab.end)
    return [" ".join(vocab.decode(t)) for t in decoded.tokens]


def test_copy_names_a_recognised_object_no_training_caption_used():
    """Trained on dog and horse photos only, it says "cat" for a photo its classifier calls a
    tabby: the word comes from the labels through the copy path, in the place a noun goes."""
    vocab = grounded_vocabulary(Vocabulary.build(TRAIN, min_count=1))
    decoder = tiny(vocab)
    train_tiny(decoder, vocab)
    dog, horse, cat = caption(decoder, vocab, torch.cat([photo(0), photo(1), photo(2)]))
    assert dog == "a dog runs on the grass"
    assert horse == "a horse runs on the grass"
    assert cat == "a cat runs on the grass"


def test_a_plain_decoder_trained_the_same_cannot_say_cat():
    vocab = grounded_vocabulary(Vocabulary.build(TRAIN, min_count=1))
    torch.manual_seed(0)
    plain = AttentionDecoder(replace_sizes(DecoderConfig(len(vocab), DIM)))
    captions, lengths = encode_batch(TRAIN * 4, vocab, 30)
    features = torch.cat([photo(0, 4), photo(1, 4)])[[0, 4, 1, 5, 2, 6, 3, 7]]
    optimizer = torch.optim.Adam(plain.parameters(), lr=5e-3)
    for _ in range(150):
        logits, _ = plain(features, captions, lengths)
        targets = captions[:, 1 : logits.shape[1] + 1]
        loss = nn.functional.cross_entropy(
            logits.reshape(-1, len(vocab)), targets.reshape(-1), ignore_index=vocab.pad
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    plain.eval()
    assert "cat" not in caption(plain, vocab, photo(2))[0].split()


def tiny_file(tmp_path, decoder: AttentionDecoder, vocab: Vocabulary, name: str):
    encoder = Encoder(get_spec("resnet18"))
    info = ModelInfo(name, "resnet18", decoder.config, vocab, classifier=None)
    return save_model(tmp_path / f"{name}.safetensors", info, encoder, decoder)


def header(path) -> dict:
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        return json.loads(f.read(size))["__metadata__"]


def test_grounded_model_file_round_trips_and_captions_the_same(tmp_path):
    vocab = grounded_vocabulary(Vocabulary.build(TRAIN, min_count=1))
    torch.manual_seed(1)
    decoder = GroundedDecoder(replace_sizes(grounded_config(len(vocab), 512)))
    head = nn.Linear(512, 1000)
    decoder.set_head(head, class_word_ids(vocab))
    decoder.eval()
    path = tiny_file(tmp_path, decoder, vocab, "grounded")
    assert header(path)["format_version"] == "2"  # photocaps before grounded decoders refuse it
    info = read_info(path)
    assert info.decoder.kind == "grounded" and info.decoder.label_slots == 5
    loaded = load_model(path)
    assert isinstance(loaded.decoder, GroundedDecoder)
    assert torch.equal(loaded.decoder.class_words, decoder.class_words)
    features = torch.randn(3, 49, 512)
    banned = (vocab.pad, vocab.start, vocab.unk)
    half = decoder.half().float()  # the file stores float16 weights
    options = DecodeOptions(max_length=8)  # untrained: it would talk to the limit
    want = beam_search(half, features, options, banned, vocab.start, vocab.end)
    got = beam_search(loaded.decoder, features, options, banned, vocab.start, vocab.end)
    assert got.tokens == want.tokens
    assert [a.shape for a in got.alphas] == [(len(t), 49) for t in got.tokens]  # attention maps


def test_plain_model_files_are_written_and_read_as_before(tmp_path, shipped_model):
    vocab = Vocabulary.build(TRAIN, min_count=1)
    decoder = AttentionDecoder(replace_sizes(DecoderConfig(len(vocab), 512)))
    path = tiny_file(tmp_path, decoder, vocab, "plain")
    meta = header(path)
    assert meta["format_version"] == "1"
    assert "kind" not in json.loads(meta["info"])["decoder"]  # older photocaps read it
    assert type(load_model(path).decoder) is AttentionDecoder
    shipped = load_model(shipped_model)  # the shipped model is grounded, with its naming rule
    assert type(shipped.decoder) is GroundedDecoder and shipped.info.decoder.kind == "grounded"
    assert shipped.decoder.name_label_above == 0.5 and shipped.decoder.never_required


def test_an_unknown_decoder_kind_is_refused():
    with pytest.raises(ValueError, match="unknown decoder kind"):
        build_decoder(DecoderConfig(10, 8, kind="transformer"))


def test_growing_the_vocabulary_keeps_a_grounded_decoder_grounded():
    """`photocap train` grows the vocabulary of the model it fine-tunes: the copy path stays."""
    vocab = grounded_vocabulary(Vocabulary.build(TRAIN, min_count=1))
    decoder = tiny(vocab)
    grown = extend_decoder(decoder, len(vocab) + 3)
    assert isinstance(grown, GroundedDecoder) and grown.config.vocab_size == len(vocab) + 3
    assert torch.equal(grown.class_words, decoder.class_words)
    assert torch.equal(grown.head_weight, decoder.head_weight)


def test_a_warm_start_from_a_plain_decoder_captions_as_it_did():
    """`grounded_from_plain` copies a plain decoder: with the copy gate shut, each step's
    distribution over the old words is the plain decoder's, and the copy words are never said
    (after words that are not copy words: a copy word's input also carries its label vector)."""
    base = Vocabulary.build(TRAIN, min_count=1)
    vocab = grounded_vocabulary(base)
    torch.manual_seed(3)
    plain = AttentionDecoder(replace_sizes(DecoderConfig(len(base), DIM))).eval()
    head = tiny(vocab).head_weight  # (1000, DIM) a head that sees DOG, HORSE or CAT
    linear = nn.Linear(DIM, 1000)
    with torch.no_grad():
        linear.weight.copy_(head)
        linear.bias.zero_()
    grounded = grounded_from_plain(plain, len(vocab), linear, class_word_ids(vocab)).eval()
    assert grounded.config.hidden_dim == plain.config.hidden_dim == 32
    grounded.copy_bias = -100.0
    features = torch.cat([photo(0), photo(2)])  # (2, 4, DIM): a dog, a cat
    projected = plain.attention.encoder_proj(features)
    old = len(base)
    with torch.no_grad():
        p_state, g_state = plain.init_state(features), grounded.init_state(features)
        for word in ("<start>", "a", "runs", "on", "the"):  # no copy word: their input differs
            tokens = torch.full((2,), vocab.words.index(word))
            logits, p_state, _ = plain.step(tokens, p_state, features, projected)
            log_probs, g_state, _ = grounded.step(tokens, g_state, features, projected)
            want = torch.log_softmax(logits, dim=1)  # (2, old)
            assert torch.allclose(log_probs[:, :old].log_softmax(dim=1), want, atol=1e-5)
            assert float(log_probs[:, old:].exp().sum(dim=1).max()) < 0.02  # appended words
            assert float(log_probs[:, old:].max()) < log_probs[:, :old].min() - 9
    with pytest.raises(ValueError, match="warm start"):
        grounded_from_plain(plain, old - 1, linear, class_word_ids(vocab))


def test_beam_search_names_each_recognised_object_once():
    """A copy gate forced open offers the photo's label word at every step: the beam still says
    it once, where a decoder without the rule repeats it."""
    vocab = grounded_vocabulary(Vocabulary.build(TRAIN, min_count=1))
    decoder = tiny(vocab)
    train_tiny(decoder, vocab)
    decoder.copy_bias = 8.0
    options = DecodeOptions(max_length=8, no_repeat_ngram=0, no_word_twice=False)
    banned = (vocab.pad, vocab.start, vocab.unk)
    cat = vocab.words.index("cat")
    decoded = beam_search(decoder, photo(2), options, banned, vocab.start, vocab.end)
    assert decoded.tokens[0].count(cat) == 1, vocab.decode(decoded.tokens[0])
    decoder.mask_said_ = AttentionDecoder.mask_said_.__get__(decoder)  # the rule off
    decoded = beam_search(decoder, photo(2), options, banned, vocab.start, vocab.end)
    assert decoded.tokens[0].count(cat) > 1, vocab.decode(decoded.tokens[0])


def test_constrained_beam_search_names_a_sure_label_even_with_the_copy_path_shut():
    """With the copy gate shut the decoder cannot say "cat" for a tabby; once labels this sure must
    be named, constrained beam search puts "cat" in the caption, exactly once. A photo in the same
    batch whose labels are unsure is decoded exactly as without the rule."""
    vocab = grounded_vocabulary(Vocabulary.build(TRAIN, min_count=1))
    decoder = tiny(vocab)
    train_tiny(decoder, vocab)
    decoder.copy_bias = -30.0  # p_copy ≈ 0: only the vocabulary path speaks
    unsure = torch.rand(1, 4, DIM) * 0.1  # no class near 0.5
    batch = torch.cat([photo(2), unsure])  # (2, 4, DIM)
    cat_before, unsure_before = caption(decoder, vocab, batch)
    assert "cat" not in cat_before.split(), cat_before
    decoder.name_label_above = 0.5
    cat_after, unsure_after = caption(decoder, vocab, batch)
    assert cat_after.split().count("cat") == 1, cat_after
    assert unsure_after == unsure_before
    cat = vocab.words.index("cat")
    assert decoder.required_words(decoder.init_state(batch)).tolist() == [cat, -1]
    decoder.never_required = (cat,)  # a label people rarely name is not forced
    assert caption(decoder, vocab, batch) == [cat_before, unsure_before]


def test_the_naming_rule_travels_in_the_model_file(tmp_path):
    vocab = grounded_vocabulary(Vocabulary.build(TRAIN, min_count=1))
    decoder = tiny(vocab)
    config = replace(decoder.config, name_label_above=0.6, never_required=(5, 9))
    decoder = GroundedDecoder(config)
    path = tiny_file(tmp_path, decoder, vocab, "rule")
    loaded = load_model(path).decoder
    assert loaded.config == config
    assert (loaded.name_label_above, loaded.never_required) == (0.6, (5, 9))
