"""Choose which recognised objects a grounded model must name (constrained beam search), on Flickr8k.

With `name_label_above` set, beam search makes a caption contain the copy word its labels give at
least that probability (summed over the classes that offer the word: tabby + Egyptian cat → "cat").
Some labels are sure but people do not name them: the classifier sees a "crash helmet" on most
cyclists, a "swimsuit" on swimmers, a "playground" behind children. This recipe counts, over the
Flickr8k `train` photos, how often each word would be forced and how often at least two of the
photo's five references name it (or its plural); a word forced on at least `--min-photos` photos
and named on fewer than half of them is never forced. Words train never forces (the objects
Flickr8k does not show: "giraffe", "pizza") stay forced: the labels are the only evidence.

    python -m photocap.training.recipes.name_labels --model M.safetensors --above 0.5 [--write]

Prints the table; `--write` stores `name_label_above` and `never_required` in the model file.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import replace
from pathlib import Path

import torch
from photocap.training.data import read_flickr8k
from photocap.training.features import FeatureCache
from photocap.training.recipes.flickr8k import caption_set
from photocap.training.recipes.heldout_objects import plural

from photocap.model.checkpoint import load_model, save_model
from photocap.model.grounded import GroundedDecoder
from photocap.model.vocab import tokenize

REPO = Path(__file__).resolve().parents[2]  # training/recipes/ is two folders down


def forced_and_named(
    decoder: GroundedDecoder,
    features: list[torch.Tensor],
    references: list[list[str]],
    words: tuple[str, ...],
) -> tuple[Counter, Counter]:
    """Per word: on how many photos its labels force it, and on how many of those at least two
    references name it. `features`: batches (photos, num_pixels, encoder_dim) in `references`' order."""
    forced: Counter = Counter()
    named: Counter = Counter()
    photo = 0
    for batch in features:
        required = decoder.required_words(decoder.init_state(batch.float()))  # (photos,)
        for word_id in required.tolist():
            refs = references[photo]
            photo += 1
            if word_id < 0:
                continue
            word = words[word_id]
            forced[word] += 1
            said = sum(bool({word, plural(word)} & set(tokenize(r))) for r in refs)
            named[word] += said >= 2
    return forced, named


def rarely_named(forced: Counter, named: Counter, min_photos: int) -> list[str]:
    """Words forced on at least `min_photos` photos and named on fewer than half of them."""
    return sorted(w for w, n in forced.items() if n >= min_photos and named[w] / n < 0.5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="a grounded model file")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared/data/flickr8k")
    parser.add_argument("--cache", type=Path, default=REPO / "cache/features")
    parser.add_argument("--above", type=float, default=0.5, help="name_label_above")
    parser.add_argument("--min-photos", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="store the rule in --model")
    args = parser.parse_args(argv)

    model = load_model(args.model)
    decoder = model.decoder
    if not isinstance(decoder, GroundedDecoder):
        raise SystemExit(f"{args.model}: not a grounded model")
    captions, splits = read_flickr8k(args.data)
    train = caption_set(args.data, splits["train"], captions)
    cache = FeatureCache(args.cache, model.encoder)
    cache.ensure([args.data / "images" / n for n in train.names], train.keys)
    batches = [cache.load(train.keys[i : i + 500]) for i in range(0, len(train.keys), 500)]
    decoder.name_label_above, decoder.never_required = args.above, ()
    words = model.info.vocabulary.words
    forced, named = forced_and_named(decoder, batches, train.references, words)
    never = rarely_named(forced, named, args.min_photos)

    print(f"{sum(forced.values())} of {len(train.keys)} train photos would be made to name a label")
    print("| word | forced on | named on | forced after |\n|---|---|---|---|")
    for word, n in forced.most_common():
        print(f"| {word} | {n} | {named[word]} | {'never' if word in never else 'yes'} |")
    print(f"never forced: {' '.join(never)}")
    if args.write:
        ids = tuple(sorted(words.index(w) for w in never))
        config = replace(decoder.config, name_label_above=args.above, never_required=ids)
        decoder.config = config
        save_model(args.model, replace(model.info, decoder=config), model.encoder, decoder)
        print(f"wrote the rule into {args.model}")


if __name__ == "__main__":
    main()
