"""Build `weights/flickr8k-ngrams.safetensors`: in how many Flickr8k `train` images' references each
1- to 4-gram occurs (`photocap.training.frequencies`), the document frequencies `photocap train`
weighs a fine-tuned model's content with (CIDEr-D in `photocap.training.judge`).

    python -m photocap.training.recipes.ngram_frequencies [--flickr8k DIR] [--out PATH]

66,155 n-grams (of 347,819; the rest occur in one image) from 6000 images, in about 2 s.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from photocap.training.data import read_flickr8k
from photocap.training.frequencies import count_documents, save_frequencies

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flickr8k", type=Path, default=REPO.parent / "shared/data/flickr8k")
    parser.add_argument(
        "--out", type=Path, default=REPO / "weights" / "flickr8k-ngrams.safetensors"
    )
    args = parser.parse_args()
    captions, splits = read_flickr8k(args.flickr8k)
    references = [captions[n] for n in splits["train"]]
    df = count_documents(references)
    save_frequencies(args.out, len(references), df, "flickr8k train references, 1-4-grams")
    print(f"{args.out}: {sum(n >= 2 for n in df.values())} n-grams of {len(references)} images")


if __name__ == "__main__":
    main()
