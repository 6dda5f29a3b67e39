"""Captioner throughput on preprocessed batches (CPU by default): greedy vs beam 3, batched vs one at a time.

    python benchmarks/captioner_throughput.py [--model PATH] [--batch 16] [--images 64] [--device cpu]

The baseline in the same run is the same model fed one photo at a time. Prints photos/s for the
encoder alone and for encoder + decoder with greedy and beam-3 decoding.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from photocap.captioner import load_captioner
from photocap.model.beam import DecodeOptions


def rate(fn, n: int) -> float:
    fn()  # warm-up
    started = time.perf_counter()
    fn()
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--images", type=int, default=64)
    args = parser.parse_args()
    captioner = load_captioner(args.model, args.device)
    side = captioner.spec.input_size
    torch.manual_seed(0)
    images = torch.randn(args.images, 3, side, side)  # (n, 3, S, S) preprocessed batch stand-in
    features = torch.cat([captioner.encode(b) for b in images.split(args.batch)])  # (n, P, D)

    def run(batch: int, beam: int | None):
        def go():
            for chunk in images.split(batch):
                if beam is None:
                    captioner.encode(chunk)
                else:
                    captioner.caption_tensors(chunk, DecodeOptions(beam_size=beam))

        return go

    def decode_only(beam: int):
        return lambda: [
            captioner.caption_features(f, DecodeOptions(beam_size=beam))
            for f in features.split(args.batch)
        ]

    print(
        f"model {captioner.model_id}, device {args.device}, torch threads {torch.get_num_threads()}, "
        f"load average {os.getloadavg()[0]:.2f}, {args.images} photos of {side}×{side}"
    )
    print(f"{'stage':<28}{'batch 1':>12}{f'batch {args.batch}':>12}{'speedup':>10}")
    for name, single, batched in (
        ("encoder", run(1, None), run(args.batch, None)),
        ("encoder + greedy", run(1, 1), run(args.batch, 1)),
        ("encoder + beam 3", run(1, 3), run(args.batch, 3)),
    ):
        a, b = rate(single, args.images), rate(batched, args.images)
        print(f"{name:<28}{a:>10.1f}/s{b:>10.1f}/s{b / a:>9.1f}×")
    for beam in (1, 3):
        print(
            f"decoder only, beam {beam}, batch {args.batch}: {rate(decode_only(beam), args.images):.1f} photos/s"
        )


if __name__ == "__main__":
    main()
