"""Quick validation metrics: photocap's own BLEU-4 + CIDEr-D vs pycocoevalcap's, same words.

    python benchmarks/caption_metrics_speed.py [--flickr8k ../shared/data/flickr8k] [--images 500]

On the first `--images` Flickr8k dev images, each image's first caption is the hypothesis and the
other four its references. The baseline in the same run is what `quick_scores` did before:
photocap's tokenizer, then pycocoevalcap's `Bleu(4)` and `Cider`. Prints the median CPU time
(process_time: steadier than wall time on a shared machine) of 7 runs of each side, the two sides
taking turns, per metric and together, and the difference between the scores.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pycocoevalcap.bleu.bleu import Bleu  # noqa: E402
from pycocoevalcap.cider.cider import Cider  # noqa: E402

from photocap.evaluation.scores import corpus_bleu, corpus_cider_d  # noqa: E402
from photocap.model.vocab import tokenize  # noqa: E402


def timed(fn) -> tuple[float, object]:
    started = time.process_time()
    result = fn()
    return time.process_time() - started, result


def median_seconds(ours, theirs, runs: int = 7) -> tuple[float, float, object, object]:
    """Median CPU seconds of `ours` and `theirs`, run in turns, and their last results."""
    pairs = [(timed(ours), timed(theirs)) for _ in range(runs)]
    (_, our_result), (_, their_result) = pairs[-1]
    our_s = statistics.median(o[0] for o, _ in pairs)
    their_s = statistics.median(t[0] for _, t in pairs)
    return our_s, their_s, our_result, their_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flickr8k", type=Path, default=REPO.parent / "shared/data/flickr8k")
    parser.add_argument("--images", type=int, default=500)
    args = parser.parse_args()
    captions: dict[str, list[str]] = defaultdict(list)
    with open(args.flickr8k / "captions.txt", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            captions[row["image"]].append(row["caption"])
    names = (args.flickr8k / "splits" / "dev.txt").read_text().split()[: args.images]
    dev = [captions[name] for name in names]
    hyps, refs = [c[0] for c in dev], [c[1:] for c in dev]

    def words():
        res = {str(i): [" ".join(tokenize(h))] for i, h in enumerate(hyps)}
        gts = {str(i): [" ".join(tokenize(r)) for r in rs] for i, rs in enumerate(refs)}
        return gts, res

    def their_bleu():
        gts, res = words()
        return Bleu(4).compute_score(gts, res, verbose=0)[0][3]

    def their_cider():
        gts, res = words()
        return Cider().compute_score(gts, res)[0]

    sides = {
        "BLEU-4": (lambda: corpus_bleu(hyps, refs)[3], their_bleu),
        "CIDEr": (lambda: corpus_cider_d(hyps, refs), their_cider),
    }
    print(
        f"{len(hyps)} Flickr8k dev images, {sum(map(len, refs))} references; median CPU time of 7 runs"
    )
    print(
        f"{'metric':8} {'photocap':>10} {'pycocoevalcap':>14} {'speed-up':>9} {'|difference|':>13}"
    )
    total_ours = total_theirs = 0.0
    for name, (ours_fn, theirs_fn) in sides.items():
        ours_s, theirs_s, ours, theirs = median_seconds(ours_fn, theirs_fn)
        total_ours, total_theirs = total_ours + ours_s, total_theirs + theirs_s
        print(
            f"{name:8} {ours_s * 1000:8.1f} ms {theirs_s * 1000:11.1f} ms "
            f"{theirs_s / ours_s:8.2f}× {abs(float(ours) - float(theirs)):13.1e}"
        )
    print(
        f"{'both':8} {total_ours * 1000:8.1f} ms {total_theirs * 1000:11.1f} ms "
        f"{total_theirs / total_ours:8.2f}×"
    )


if __name__ == "__main__":
    main()
