"""`photocap train`: vocabulary growth, the CLI end to end on real photos, bad data, exact resume."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from photocap.training.data import encode_batch
from photocap.training.vocab_growth import extend_decoder
from PIL import Image
from safetensors.torch import load_file

from photocap.cli import cli
from photocap.model.beam import DecodeOptions, beam_search
from photocap.model.checkpoint import ModelInfo, load_model, save_model
from photocap.model.decoder import AttentionDecoder, DecoderConfig
from photocap.model.encoders import Encoder, get_spec
from photocap.model.vocab import Vocabulary

REPO = Path(__file__).resolve().parents[1]
SKIMAGE_PHOTOS = (
    "astronaut",
    "camera",
    "chelsea",
    "coffee",
    "coins",
    "horse",
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",
    "page",
    "text",
    "retina",
    "rocket",
    "clock",
)
OLD_CAPTIONS = [
    "a dog runs on the beach",
    "a black dog is running along the sand",
    "a cat sits on a red mat",
    "two children play in the snow",
    "a man rides a bicycle down the street",
    "a girl in a pink dress climbs the stairs",
]


def tiny_decoder(vocab_size: int, encoder_dim: int, seed: int = 0) -> AttentionDecoder:
    torch.manual_seed(seed)
    return AttentionDecoder(DecoderConfig(vocab_size, encoder_dim, 24, 24, 32, dropout=0.0))


def trained_tiny_decoder(vocab: Vocabulary, features: torch.Tensor) -> AttentionDecoder:
    """A tiny decoder that has learned OLD_CAPTIONS for `features` (one image each)."""
    decoder = tiny_decoder(len(vocab), features.shape[2])
    captions, lengths = encode_batch(OLD_CAPTIONS, vocab, 30)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=1e-2)
    for _ in range(60):
        logits, _ = decoder(features, captions, lengths)  # (B, T, V)
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, len(vocab)), captions[:, 1:].reshape(-1), ignore_index=vocab.pad
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return decoder.eval()


def test_extending_the_vocabulary_keeps_old_captions_of_old_images():
    torch.manual_seed(1)
    vocab = Vocabulary.build(OLD_CAPTIONS, min_count=1)
    features = torch.randn(len(OLD_CAPTIONS), 9, 16)  # (images, pixels, D)
    decoder = trained_tiny_decoder(vocab, features)
    new_captions = ["Product shot: a teapot", "Product shot: a blue teapot", "a dog", "a zebra"]
    bigger = vocab.extended(new_captions, min_count=2)
    assert bigger.words[len(vocab) :] == ("product", "shot", "teapot")  # zebra: seen once
    grown = extend_decoder(decoder, len(bigger)).eval()

    old_state, new_state = decoder.state_dict(), grown.state_dict()
    for name, tensor in old_state.items():  # the learned rows are untouched
        assert torch.equal(new_state[name][: tensor.shape[0]], tensor), name
    assert new_state["embedding.weight"].shape == (len(bigger), 24)
    assert new_state["output.weight"].shape == (len(bigger), 32)

    banned = (vocab.pad, vocab.start, vocab.unk)
    before = beam_search(decoder, features, DecodeOptions(3), banned, vocab.start, vocab.end)
    after = beam_search(grown, features, DecodeOptions(3), banned, vocab.start, vocab.end)
    assert [" ".join(vocab.decode(t)) for t in before.tokens] == OLD_CAPTIONS
    assert after.tokens == before.tokens  # same words on the old images
    for old, new in zip(before.log_probs, after.log_probs, strict=True):
        assert new <= old + 1e-6  # the new words can only take probability away…
        assert old - new < 0.05  # …and take very little: each starts as an average word


# --- the CLI on real photos, with a tiny model (random ResNet-18 encoder) ----------------------


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """Real photos (scikit-image's), a house-style captions CSV and a tiny base model file."""
    from skimage import data

    root = tmp_path_factory.mktemp("train")
    (root / "photos").mkdir()
    rows = []
    for i, name in enumerate(SKIMAGE_PHOTOS):
        file = f"{name}-é.jpg" if name == "coffee" else f"{name}.jpg"
        Image.fromarray(getattr(data, name)()).convert("RGB").save(root / "photos" / file)
        rows += [
            (f"photos/{file}", f"Product shot: a {name.replace('_', ' ')} on a white table", i),
            (f"photos/{file}", f"Product shot: the {name.replace('_', ' ')} seen from above", i),
        ]
    write_csv(root / "products.csv", rows, header=("image", "caption", "sku"))
    vocab = Vocabulary.build(OLD_CAPTIONS, min_count=1)
    encoder = Encoder(get_spec("resnet18"))
    decoder = tiny_decoder(len(vocab), 512)
    info = ModelInfo("tiny", "resnet18", decoder.config, vocab)
    save_model(root / "base.safetensors", info, encoder, decoder)
    return root


def write_csv(path: Path, rows, header=("image", "caption")) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def train_args(ws: Path, out: str, *extra: str, data: str = "products.csv") -> list[str]:
    return [
        "train",
        "--data",
        str(ws / data),
        "--base",
        str(ws / "base.safetensors"),
        "--out",
        str(ws / "out" / out),
        "--cache",
        str(ws / "cache"),
        "--batch-size",
        "4",
        "--lr",
        "3e-3",
        "--device",
        "cpu",
        "--workers",
        "0",
        "--min-steps",
        "30",  # fast tests; test_fourteen_photos_* runs the default
        *extra,
    ]


def run_cli(args: list[str]):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_train_cli_end_to_end_and_the_model_captions_photos(workspace, tmp_path):
    ws = workspace
    cache = ("--cache", str(tmp_path / "cache"))  # its own, empty feature cache
    val = ("--val", str(mirrored_val(ws)))  # held-out photos of subjects the training set shows
    result = run_cli(  # the default 150 steps: enough to tell the subjects apart
        default_steps_args(
            ws, "products.safetensors", "--epochs", "2", "--set-default", *cache, *val
        )
    )
    assert result.exit_code == 0, result.output
    assert "computing encoder features of 14 photos" in result.stderr
    assert "epoch     loss  val BLEU-4  val CIDEr" in result.stderr
    assert "(base model)" in result.stderr
    model = ws / "out" / "products.safetensors"
    assert f"model: {model}" in result.stdout
    assert '":", "product", "shot"' in result.stdout  # the new words, quoted, most frequent first

    loaded = load_model(model)
    base_words = Vocabulary.build(OLD_CAPTIONS, min_count=1).words
    assert loaded.info.vocabulary.words[: len(base_words)] == base_words
    added = loaded.info.vocabulary.words[len(base_words) :]
    assert {"product", "shot", ":", "white", "table", "seen", "above"} <= set(added)
    assert loaded.decoder.config.vocab_size == len(loaded.info.vocabulary)
    assert loaded.info.training["base"].startswith("tiny@")

    metrics = json.loads((ws / "out" / "products.metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [0, 1, 2] and metrics["steps"] == 150
    assert metrics["epochs"][0]["loss"] is None and metrics["epochs"][1]["loss"] > 0
    assert (metrics["train_images"], metrics["val_images"]) == (14, 3)
    assert metrics["judgement"]["learned"] and metrics["judgement"]["uses_photos"]
    assert metrics["confidence"]["own"] is False  # 3 validation photos: the base's curve
    assert "learned your captions: held-out loss" in result.stdout
    assert "confidence: the base model's curve (only 3 validation photos" in result.stdout
    with Image.open(ws / "out" / "products.metrics.png") as plot:
        assert plot.format == "PNG" and plot.size[0] > 400
    umask = os.umask(0)
    os.umask(umask)
    for written in ("products.safetensors", "products.metrics.json", "products.metrics.png"):
        assert (ws / "out" / written).stat().st_mode & 0o777 == 0o666 & ~umask, written
    assert not [p.name for p in (ws / "out").iterdir() if p.name.endswith(".tmp")]

    from photocap.paths import data_dir, default_model_path

    assert default_model_path() == data_dir() / "default-model.safetensors"
    assert default_model_path().read_bytes() == model.read_bytes()

    photo = ws / "photos" / "rocket.jpg"
    captioned = run_cli(["caption", "--model", str(model), "--json", str(photo)])
    assert captioned.exit_code == 0, captioned.output
    payload = json.loads(captioned.stdout)
    assert payload["model"].startswith("tiny+products@")
    assert payload["results"][0]["caption"].endswith(".")

    short = ("--epochs", "1", "--keep-worse")  # 30 steps, too few to judge: this checks the cache
    again = run_cli(train_args(ws, "products-2.safetensors", *short, *cache, *val))
    assert again.exit_code == 0, again.output
    assert "computing encoder features" not in again.stderr  # the cache served every photo


def test_tune_words_keeps_the_base_attention_and_recurrence_and_tune_all_trains_them(workspace):
    ws = workspace
    base = load_model(ws / "base.safetensors").decoder
    e, d, old = base.config.embed_dim, base.config.encoder_dim, base.config.vocab_size
    before = base.state_dict()
    recurrence = ("attention.encoder_proj.weight", "attention.score.weight", "gate.weight")
    for tune, kept in (("words", True), ("all", False)):
        out = f"tune-{tune}.safetensors"
        result = run_cli(train_args(ws, out, "--epochs", "1", "--tune", tune, "--keep-worse"))
        assert result.exit_code in (0, 3), result.output
        tuned = load_model(ws / "out" / out)
        after = tuned.decoder.state_dict()
        for name in (*recurrence, "lstm.weight_hh"):
            assert torch.equal(after[name], before[name]) == kept, (tune, name)
        context = slice(e, e + d)  # the LSTM's input columns fed by the attention context
        assert (
            torch.equal(after["lstm.weight_ih"][:, context], before["lstm.weight_ih"][:, context])
            == kept
        )
        # the words side learns either way
        assert not torch.equal(after["lstm.weight_ih"][:, :e], before["lstm.weight_ih"][:, :e])
        assert not torch.equal(after["output.weight"][:old], before["output.weight"])
        assert not torch.equal(after["embedding.weight"][:old], before["embedding.weight"])
        assert tuned.info.training["tune"] == tune


@pytest.mark.slow
def test_train_runs_without_pycocoevalcap(workspace, tmp_path):
    """A plain `pip install .` has no pycocoevalcap (the `eval` extra): `photocap train` still
    validates and judges (photocap's own BLEU-4 and CIDEr-D) and writes its model."""
    blocker = tmp_path / "blocker" / "pycocoevalcap"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("pycocoevalcap is not installed")\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker.parent), str(REPO)])}
    probe = [sys.executable, "-c", "import pycocoevalcap.bleu.bleu"]
    assert subprocess.run(probe, capture_output=True, env=env).returncode != 0  # blocked indeed

    val = ("--val", str(mirrored_val(workspace)))  # judged too: 150 steps learn the subjects
    args = default_steps_args(workspace, "no-eval.safetensors", "--epochs", "1", *val)
    child = subprocess.run(
        [sys.executable, "-m", "photocap", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr
    assert "val CIDEr" in child.stderr
    loaded = load_model(workspace / "out" / "no-eval.safetensors")
    assert "product" in loaded.info.vocabulary.words
    epochs = json.loads((workspace / "out" / "no-eval.metrics.json").read_text())["epochs"]
    assert [e["epoch"] for e in epochs] == [0, 1]


def test_unusable_photos_are_skipped_listed_or_refused(workspace):
    ws = workspace
    (ws / "photos" / "notes.jpg").write_text("not a photo at all\n")
    rows = list(csv.reader((ws / "products.csv").read_text(encoding="utf-8").splitlines()))[1:]
    rows = [r[:2] for r in rows] + [
        ["photos/missing.jpg", "Product shot: a lost thing"],
        ["photos/notes.jpg", "Product shot: a text file"],
        ["photos/rocket.jpg", ""],
    ]
    write_csv(ws / "messy.csv", rows)
    one = ("--epochs", "1", "--keep-worse")  # what this checks is the data, not the judgement
    result = run_cli(train_args(ws, "messy.safetensors", *one, data="messy.csv"))
    assert result.exit_code == 0, result.output
    assert "skipped 1 rows:\n  line 32: photos/rocket.jpg: empty caption" in result.stderr
    assert "skipped 2 images:" in result.stderr
    assert "line 30: photos/missing.jpg: image file not found" in result.stderr
    assert "line 31: photos/notes.jpg: " in result.stderr

    strict = run_cli(train_args(ws, "m2.safetensors", "--strict", data="messy.csv"))
    assert strict.exit_code == 1
    assert "line 32: empty caption" in strict.stderr

    write_csv(ws / "few.csv", rows[:18] + rows[-3:])  # 9 photos, plus 2 unusable
    few = run_cli(train_args(ws, "few.safetensors", data="few.csv"))
    assert few.exit_code == 1
    assert "only 9 usable image(s) (2 image(s) and 1 row(s) skipped)" in few.stderr
    assert "at least 10" in few.stderr


def test_usage_errors_and_a_validation_csv_that_overlaps(workspace):
    ws = workspace
    bad = run_cli(train_args(ws, "x.safetensors", "--encoder", "resnet18"))
    assert bad.exit_code == 2 and "--scratch" in bad.output
    write_csv(ws / "val.csv", [("photos/rocket.jpg", "Product shot: a rocket")])
    overlap = run_cli(train_args(ws, "x.safetensors", "--val", str(ws / "val.csv")))
    assert overlap.exit_code == 1
    assert "1 validation image(s) are also in the training data" in overlap.stderr
    assert "photos/rocket.jpg (line 2)" in overlap.stderr

    for name in ("rocket", "horse"):  # mirrored: other photos, held out from training
        with Image.open(ws / "photos" / f"{name}.jpg") as photo:
            photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(ws / f"{name}-mirror.jpg")
    write_csv(
        ws / "val.csv", [(f"{n}-mirror.jpg", f"Product shot: a {n}") for n in ("rocket", "horse")]
    )
    held_out = run_cli(
        train_args(ws, "val.safetensors", "--val", str(ws / "val.csv"), "--epochs", "1")
    )
    assert held_out.exit_code == 0, held_out.output
    assert "14 training photos (28 captions), 2 validation photos" in held_out.stderr


def test_scratch_with_a_resnet_and_a_fine_tuned_encoder(workspace, tmp_path):
    import torchvision

    ws = workspace
    weights = tmp_path / "resnet18.pth"
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    args = train_args(ws, "scratch.safetensors", "--epochs", "1", "--fine-tune-encoder")
    del args[3:5]  # no --base
    args += ["--scratch", "--encoder", "resnet18", "--encoder-weights", str(weights)]
    result = run_cli(args)
    assert result.exit_code == 0, result.output
    model = load_model(ws / "out" / "scratch.safetensors")
    assert model.info.encoder == "resnet18"
    words = model.info.vocabulary.words
    assert set(words[4:8]) == {":", "a", "product", "shot"}  # from the data alone, colon too
    start = torchvision.models.resnet18(weights=None)
    start.load_state_dict(torch.load(weights))
    trained = model.encoder.backbone
    assert torch.allclose(trained.layer1[0].conv1.weight, start.layer1[0].conv1.weight, atol=1e-3)
    change = (trained.layer4[1].conv2.weight - start.layer4[1].conv2.weight).abs().max()
    assert change > 1e-4  # the last stage was trained


# --- small data: a prefix style from 14 photos; a result not better than the base --------------


def mirrored_val(ws: Path, names=("rocket", "horse", "coins")) -> Path:
    """Held-out photos (mirror images of training photos) with product-style captions."""
    for name in names:
        with Image.open(ws / "photos" / f"{name}.jpg") as photo:
            photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(ws / f"{name}-mirror.jpg")
    rows = [(f"{n}-mirror.jpg", f"Product shot: a {n} on a white table") for n in names]
    return write_csv(ws / "val-products.csv", rows)


def caption_texts(model: Path, photos: list[Path]) -> list[str]:
    result = run_cli(
        ["caption", "--model", str(model), "--json", "--device", "cpu", *map(str, photos)]
    )
    assert result.exit_code == 0, result.output
    return [r["caption"].lower() for r in json.loads(result.stdout)["results"]]


def default_steps_args(ws: Path, out: str, *extra: str, data: str = "products.csv") -> list[str]:
    """`train_args` with the default number of optimiser steps."""
    args = train_args(ws, out, *extra, data=data)
    at = args.index("--min-steps")
    return args[:at] + args[at + 2 :]


def test_fourteen_photos_teach_a_prefix_style_with_the_default_steps(workspace):
    ws = workspace
    val = mirrored_val(ws)
    photos = [ws / f"{n}-mirror.jpg" for n in ("rocket", "horse", "coins")]
    photos += [ws / "photos" / f"{n}.jpg" for n in ("moon", "page", "clock")]
    common = ("--val", str(val), "--epochs", "3", "--json", "--quiet")

    before = run_cli(default_steps_args(ws, "few.safetensors", *common, "--min-steps", "0"))
    assert before.exit_code in (0, 3), before.output
    short = json.loads(before.stdout)
    assert short["steps"] == 21  # 3 passes of 7 steps, as epochs were counted before

    result = run_cli(default_steps_args(ws, "prefix.safetensors", *common))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["steps"] == 150 and summary["improved"] is True
    assert summary["val"]["CIDEr"] > max(0.5, summary["base_val"]["CIDEr"], short["val"]["CIDEr"])
    texts = caption_texts(ws / "out" / "prefix.safetensors", photos)
    assert all(t.startswith("product shot: ") for t in texts), texts
    assert all(len(t.split()) <= 9 for t in texts), texts  # whole captions, not "a a a a …"
    metrics = json.loads((ws / "out" / "prefix.metrics.json").read_text())
    assert metrics["new_words_started_from"]["product"]  # from the old words the base expected
    assert all(e["val_loss"] > 0 for e in metrics["epochs"])


def test_a_result_not_better_than_the_base_writes_no_model_unless_asked(workspace, tmp_path):
    ws = workspace
    val = mirrored_val(ws)
    styled = run_cli(
        default_steps_args(ws, "styled.safetensors", "--val", str(val), "--epochs", "3")
    )
    assert styled.exit_code == 0, styled.output
    rows = [
        (f"photos/{n}.jpg", f"zebra stripes glow {w} in the dark night")
        for n in SKIMAGE_PHOTOS
        for w in ("softly", "brightly")
    ]
    write_csv(ws / "nonsense.csv", rows)
    args = train_args(
        ws, "worse.safetensors", "--val", str(val), "--epochs", "2", data="nonsense.csv"
    )
    args[args.index("--base") + 1] = str(ws / "out" / "styled.safetensors")
    from photocap.paths import default_model_path

    default_before = default_model_path().read_bytes() if default_model_path().exists() else None

    worse = run_cli([*args, "--set-default"])
    assert worse.exit_code == 3, worse.output
    assert "NOT BETTER than the base model: it did not learn your captions" in worse.stdout
    assert "model: none written" in worse.stdout
    assert not (ws / "out" / "worse.safetensors").exists()
    metrics = json.loads((ws / "out" / "worse.metrics.json").read_text())
    assert metrics["model"] is None and metrics["improved"] is False
    judgement = metrics["judgement"]
    assert judgement["loss_change"]["value"] > 0 and not judgement["learned"]
    assert metrics["base_best"]["CIDEr"] > 0  # the base captions the held-out photos well…
    assert metrics["best"]["CIDEr"] <= metrics["base_best"]["CIDEr"]  # …and better
    assert (default_model_path().read_bytes() if default_model_path().exists() else None) == (
        default_before
    )  # --set-default changed nothing

    kept = run_cli([*args, "--keep-worse", "--resume"])  # writes it without training again
    assert kept.exit_code == 0, kept.output
    assert "NOT BETTER than the base model" in kept.stdout and "written anyway" in kept.stdout
    assert "epoch 3/" not in kept.stderr and "step" not in kept.stderr.split("resuming")[-1]
    model = load_model(ws / "out" / "worse.safetensors")
    assert model.info.training["best_epoch"] >= 1
    texts = caption_texts(ws / "out" / "worse.safetensors", [ws / "rocket-mirror.jpg"])
    assert texts[0].startswith("zebra"), texts


def test_captions_shuffled_between_photos_are_refused_with_the_reason(workspace):
    """The right style on the wrong photos: the loss falls, but the photo no longer matters."""
    ws = workspace
    val = mirrored_val(ws)
    subjects = list(SKIMAGE_PHOTOS[1:]) + [SKIMAGE_PHOTOS[0]]  # every photo gets another's captions
    rows = [
        (f"photos/{photo}.jpg" if photo != "coffee" else "photos/coffee-é.jpg", caption)
        for photo, subject in zip(SKIMAGE_PHOTOS, subjects, strict=True)
        for caption in (
            f"Product shot: a {subject.replace('_', ' ')} on a white table",
            f"Product shot: the {subject.replace('_', ' ')} seen from above",
        )
    ]
    write_csv(ws / "shuffled.csv", rows)
    args = default_steps_args(
        ws, "shuffled.safetensors", "--val", str(val), "--epochs", "3", data="shuffled.csv"
    )
    refused = run_cli(args)
    assert refused.exit_code == 3, refused.output
    assert "do not describe their photos (were they shuffled between photos?)" in refused.stdout
    assert not (ws / "out" / "shuffled.safetensors").exists()
    judgement = json.loads((ws / "out" / "shuffled.metrics.json").read_text())["judgement"]
    assert judgement["learned"] and not judgement["uses_photos"]  # the style was learned

    kept = run_cli([*args, "--keep-worse", "--resume"])
    assert kept.exit_code == 0, kept.output
    assert "written anyway (--keep-worse)" in kept.stdout
    assert (ws / "out" / "shuffled.safetensors").exists()


# --- exact resume after a kill and after Ctrl-C ----------------------------------------------

CHILD = """
import os, signal, sys
import torch
calls = 0
original = torch.optim.Adam.step
def step(self, *args, **kwargs):
    global calls
    calls += 1
    if calls == {at}:
        os.kill(os.getpid(), signal.{signal})
    return original(self, *args, **kwargs)
torch.optim.Adam.step = step
from photocap.cli import main
sys.argv = ["photocap", *{args!r}]
main()
"""


def run_child(args: list[str], signal: str, at: int) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess that receives `signal` at its `at`-th optimizer step."""
    code = CHILD.format(args=args, signal=signal, at=at)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )


def decoder_tensors(work: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(work / "last.safetensors").items() if k[:8] == "decoder."}


@pytest.mark.slow
def test_resume_after_a_kill_or_ctrl_c_reaches_the_uninterrupted_weights(workspace):
    ws = workspace
    common = ("--epochs", "3", "--patience", "5", "--val-fraction", "0.3", "--seed", "7")
    common += ("--min-steps", "24", "--keep-worse")  # epochs of 1.6 passes: batches straddle them
    reference = run_cli(train_args(ws, "ref.safetensors", *common))
    assert reference.exit_code == 0, reference.output
    expected = decoder_tensors(ws / "out" / "ref.run")
    steps = 8  # 10 training photos × 2 captions in batches of 4 (5 a pass), 24 steps over 3 epochs

    killed = run_child(train_args(ws, "killed.safetensors", *common), "SIGKILL", steps + 3)
    assert killed.returncode == -9  # died in epoch 2, after epoch 1's checkpoint
    assert not (ws / "out" / "killed.safetensors").exists()
    stopped = run_child(train_args(ws, "stopped.safetensors", *common), "SIGINT", steps + 2)
    assert stopped.returncode == 130, stopped.stderr
    assert "training interrupted at epoch 2, step 2/8" in stopped.stderr
    assert "--resume" in stopped.stderr

    for name in ("killed", "stopped"):
        resumed = run_cli(train_args(ws, f"{name}.safetensors", *common, "--resume"))
        assert resumed.exit_code == 0, resumed.output
        where = "epoch 2" if name == "killed" else "epoch 2, step 2"
        assert f"resuming {ws / 'out' / name}.run at {where}" in resumed.stderr
        got = decoder_tensors(ws / "out" / f"{name}.run")
        assert got.keys() == expected.keys()
        for key, tensor in expected.items():
            torch.testing.assert_close(got[key], tensor, rtol=1e-5, atol=1e-6, msg=key)
        final = json.loads((ws / "out" / f"{name}.metrics.json").read_text())["epochs"]
        reference_epochs = json.loads((ws / "out" / "ref.metrics.json").read_text())["epochs"]
        losses = [e["loss"] for e in final[1:]]
        assert losses == pytest.approx([e["loss"] for e in reference_epochs[1:]])

    (ws / "extra.csv").write_bytes((ws / "products.csv").read_bytes() + b"photos/moon.jpg,x y\n")
    changed = run_cli(train_args(ws, "killed.safetensors", *common, "--resume", data="extra.csv"))
    assert changed.exit_code == 1 and "cannot resume: data changed" in changed.stderr


# --- the shipped model learns a house style on real Flickr8k photos ---------------------------


@pytest.mark.slow
def test_fine_tuning_the_shipped_model_learns_a_house_style(flickr8k, shipped_model, tmp_path):
    """112 Flickr8k dog photos in the pet-studio style: the style is learned and the model
    written; the same captions shuffled between the photos are refused, and say why."""
    from photocap.training.data import read_flickr8k
    from photocap.training.recipes.house_style import DOG, house_style

    captions, splits = read_flickr8k(flickr8k)
    dogs = [n for n in splits["test"] if any(DOG.search(c) for c in captions[n])][:112]
    train, held_out = dogs[:100], dogs[100:]
    data = write_csv(
        tmp_path / "pets.csv", [(n, house_style(c)) for n in train for c in captions[n]]
    )
    others = train[1:] + train[:1]  # each photo gets the next photo's captions
    shuffled = write_csv(
        tmp_path / "shuffled.csv",
        [(n, house_style(c)) for n, m in zip(train, others, strict=True) for c in captions[m]],
    )
    common = ["--images", str(flickr8k / "images"), "--cache", str(tmp_path / "cache")]
    common += ["--epochs", "6", "--lr", "4e-4", "--batch-size", "16", "--json"]
    out = tmp_path / "pets.safetensors"
    result = run_cli(["train", "--data", str(data), "--out", str(out), *common])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert {"pawtrait", "pupper"} <= set(summary["words_added"])
    judgement = summary["judgement"]
    assert judgement["better"] and judgement["loss_change"]["high"] < -0.5
    assert judgement["photo_gain"]["low"] > 0.2  # the photo matters, as it does to the base
    assert {"pawtrait", "pupper"} <= set(judgement["style"])

    refused = run_cli(
        ["train", "--data", str(shuffled), "--out", str(tmp_path / "s.safetensors"), *common]
    )
    assert refused.exit_code == 3, refused.output
    control = json.loads(refused.stdout)
    assert control["model"] is None and not control["improved"]
    assert control["judgement"]["learned"] and not control["judgement"]["uses_photos"]
    assert "shuffled between photos" in control["judgement"]["reasons"][0]

    photos = [str(flickr8k / "images" / n) for n in held_out]
    texts = {}
    for label, model in (("base", shipped_model), ("tuned", out)):
        captioned = run_cli(
            ["caption", "--model", str(model), "--json", "--device", "cpu", *photos]
        )
        assert captioned.exit_code == 0, captioned.output
        texts[label] = [r["caption"].lower() for r in json.loads(captioned.stdout)["results"]]
    assert not any("pawtrait" in t or "pupper" in t for t in texts["base"])
    assert sum(t.startswith("pawtrait: ") for t in texts["tuned"]) >= 9, texts["tuned"]
    assert sum("pupper" in t for t in texts["tuned"]) >= 6, texts["tuned"]
