"""The recipe behind the shipped model: frozen EfficientNet-Lite2 features, attention LSTM on Flickr8k.

    python -m photocap.training.recipes.flickr8k --data ../shared/data/flickr8k --out weights/photocap-lite2-flickr8k.safetensors

Caches encoder features under `--cache` (one pass over 8091 images), trains the decoder with
early stopping on dev CIDEr, then evaluates the saved file end to end on the test split
(photos → shipped model file → captions → COCO metrics) and records the figures in the file.

`--grounded` trains the grounded decoder (photocap.model.grounded: the ImageNet labels as input,
a copy path over their words); with `--init PLAIN_MODEL` it starts from that plain model's
weights (`grounded_from_plain`) instead of from scratch.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
from photocap.training.data import CaptionSet, read_flickr8k
from photocap.training.features import FeatureCache
from photocap.training.train import TrainConfig, train_decoder

from photocap.model.checkpoint import ModelInfo, load_model, save_model
from photocap.model.decoder import AttentionDecoder, DecoderConfig
from photocap.model.encoders import load_pretrained_encoder
from photocap.model.grounded import GroundedDecoder, grounded_config, grounded_from_plain
from photocap.model.grounding import class_word_ids, grounded_vocabulary
from photocap.model.vocab import Vocabulary
from photocap.photos.digest import file_sha256


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def caption_set(root: Path, names: list[str], captions: dict[str, list[str]]) -> CaptionSet:
    keys = [file_sha256(root / "images" / n) for n in names]
    return CaptionSet(keys, names, [captions[n] for n in names])


def self_critical(decoder, vocab, features, sets, args, best_cider: float) -> list[dict]:
    """SCST epochs on CIDEr-D after cross-entropy; keeps the weights with the best dev CIDEr."""
    from photocap.training.recipes.scst import CiderD, scst_epoch
    from photocap.training.train import evaluate_decoder
    from safetensors.torch import load_file, save_file

    best_file = args.work / "scst-best.safetensors"
    done_file = args.work / "scst-done.json"
    history = json.loads(done_file.read_text()) if args.resume and done_file.exists() else []
    if history:
        decoder.load_state_dict(load_file(str(args.work / "scst-last.safetensors")))
        best_cider = max([best_cider] + [h["dev_cider"] for h in history])
    cider = CiderD(sets["train"].references)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=args.scst_lr)
    generator = torch.Generator().manual_seed(len(history))
    improved = best_file.exists() and bool(history)
    for epoch in range(len(history) + 1, args.scst_epochs + 1):
        stats = scst_epoch(
            decoder,
            optimizer,
            features["train"],
            cider,
            vocab,
            generator=generator,
            on_step=lambda s, n, r: s % 40 == 0 and log(f"  scst step {s}/{n} reward {r:.3f}"),
        )
        scores, _ = evaluate_decoder(decoder, features["dev"], sets["dev"], vocab, beam=3)
        history.append(
            {
                "epoch": epoch,
                "train_reward": stats.mean_reward,
                "dev_bleu4": scores["BLEU-4"],
                "dev_cider": scores["CIDEr"],
                "seconds": stats.seconds,
            }
        )
        log(
            f"scst epoch {epoch}: reward {stats.mean_reward:.3f} dev BLEU-4 {scores['BLEU-4']:.4f} "
            f"CIDEr {scores['CIDEr']:.4f} {stats.seconds:.0f}s"
        )
        state = {k: v.contiguous() for k, v in decoder.state_dict().items()}
        save_file(state, str(args.work / "scst-last.safetensors"))
        if scores["CIDEr"] > best_cider:
            best_cider, improved = scores["CIDEr"], True
            save_file(state, str(best_file))
        done_file.write_text(json.dumps(history))
    if improved:
        decoder.load_state_dict(load_file(str(best_file)))
    else:
        decoder.load_state_dict(load_file(str(args.work / "best.safetensors")))
    return history


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/flickr8k"))
    parser.add_argument(
        "--out", type=Path, default=Path("weights/photocap-lite2-flickr8k.safetensors")
    )
    parser.add_argument("--encoder", default="efficientnet_lite2")
    parser.add_argument("--cache", type=Path, default=Path("cache/features"))
    parser.add_argument("--work", type=Path, default=Path("runs/flickr8k"))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument(
        "--scst-epochs", type=int, default=0, help="CIDEr-D fine-tuning epochs after XE"
    )
    parser.add_argument("--scst-lr", type=float, default=5e-5)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--grounded", action="store_true", help="the grounded decoder")
    parser.add_argument("--init", type=Path, help="grounded: start from this plain model file")
    parser.add_argument("--lr", type=float, default=4e-4)
    parser.add_argument(
        "--copy-bias", type=float, default=0.0, help="grounded: the copy gate's decoding shift"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    captions, splits = read_flickr8k(args.data)
    sets = {name: caption_set(args.data, names, captions) for name, names in splits.items()}
    if args.init:
        base = load_model(args.init)
        vocab = base.info.vocabulary
    else:
        vocab = Vocabulary.build(
            (c for refs in sets["train"].references for c in refs), args.min_count
        )
    if args.grounded:
        vocab = grounded_vocabulary(vocab)
    log(f"vocabulary: {len(vocab)} words (min count {args.min_count})")

    encoder = load_pretrained_encoder(args.encoder)
    cache = FeatureCache(args.cache, encoder)
    for name, data in sets.items():
        paths = [args.data / "images" / n for n in data.names]
        cache.ensure(
            paths,
            data.keys,
            progress=lambda d, n, s=name: d % 640 == 0 and log(f"{s} features {d}/{n}"),
        )
    features = {name: cache.load(data.keys) for name, data in sets.items() if name != "test"}
    log(f"features: train {tuple(features['train'].shape)}, dev {tuple(features['dev'].shape)}")

    dim, head = encoder.spec.feature_dim, encoder.backbone.classifier
    if args.grounded and args.init:
        decoder = grounded_from_plain(base.decoder, len(vocab), head, class_word_ids(vocab))
    elif args.grounded:
        decoder = GroundedDecoder(grounded_config(len(vocab), dim))
        decoder.set_head(head, class_word_ids(vocab))
    elif args.init:
        decoder = base.decoder
    else:
        decoder = AttentionDecoder(DecoderConfig(vocab_size=len(vocab), encoder_dim=dim))
    decoder_config = decoder.config
    config = TrainConfig(epochs=args.epochs, lr=args.lr)
    state = train_decoder(
        decoder,
        vocab,
        features["train"],
        sets["train"],
        features["dev"],
        sets["dev"],
        config,
        args.work,
        resume=args.resume,
        on_step=lambda s, n, loss: s % 100 == 0 and log(f"  step {s}/{n} loss {loss:.3f}"),
        on_epoch=lambda r: log(
            f"epoch {r.epoch}: loss {r.loss:.3f} dev BLEU-4 {r.val_bleu4:.4f} "
            f"CIDEr {r.val_cider:.4f} lr {r.lr:.2e} {r.seconds:.0f}s"
        ),
    )
    log(f"best epoch {state.best_epoch}: dev CIDEr {state.best_cider:.4f}")
    if args.grounded:  # chosen on dev; stored in the file, used by every decoding
        decoder.config = replace(decoder.config, copy_bias=args.copy_bias)
        decoder.copy_bias, decoder_config = args.copy_bias, decoder.config
    scst_history = []
    if args.scst_epochs:
        scst_history = self_critical(decoder, vocab, features, sets, args, state.best_cider)

    info = ModelInfo(
        name=f"photocap-{args.encoder.replace('efficientnet_', '')}-flickr8k"
        + ("-grounded" if args.grounded else ""),
        encoder=args.encoder,
        decoder=decoder_config,
        vocabulary=vocab,
        training={
            "recipe": "python -m photocap.training.recipes.flickr8k"
            + (" --grounded" if args.grounded else "")
            + (f" --init {args.init.name}" if args.init else ""),
            "data": "Flickr8k (Hodosh, Young & Hockenmaier 2013), standard train split, "
            "6000 images × 5 captions; research and non-commercial terms",
            "config": asdict(config),
            "best_epoch": state.best_epoch,
            "history": [asdict(h) for h in state.history],
            "scst": {"lr": args.scst_lr, "samples": 5, "history": scst_history},
        },
        metrics={
            "flickr8k_dev_quick": {
                "CIDEr": max([state.best_cider] + [h["dev_cider"] for h in scst_history])
            }
        },
    )
    save_model(args.out, info, encoder, decoder)
    log(f"saved {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")

    from photocap.evaluation.run import evaluate_model

    test_names = splits["test"]
    report = evaluate_model(
        args.out,
        [args.data / "images" / n for n in test_names],
        [captions[n] for n in test_names],
        beam=3,
    )
    info.metrics["flickr8k_test_beam3"] = report.scores
    save_model(args.out, info, encoder, decoder)
    log("test (beam 3): " + json.dumps(report.scores))


if __name__ == "__main__":
    main()
