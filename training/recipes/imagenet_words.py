"""Re-create `photocap/model/imagenet_words.tsv`: the 1000 ImageNet-1k classes → everyday search words.

    python -m photocap.training.recipes.imagenet_words [--wordnet /usr/share/wordnet] [--out PATH]

Reads WordNet 3.0's `data.noun` (Debian's `wordnet-base`; nothing is downloaded). A class's wnid
("n02123045") is its noun synset's offset. For each class the words are, in order of preference:

1. its own lemmas, cleaned ("tabby, tabby cat"): underscores become spaces, scientific names
   (a genus WordNet knows, then a species) are dropped;
2. the head noun of a multi-word lemma when an ancestor is called by it ("tabby cat" → cat,
   "school bus" → bus; "German shepherd" gives no "shepherd", "sea lion" no "lion");
3. everyday words of the ancestors in `HYPERNYM_WORDS`, nearest first (dog, bird, vehicle, food …).
   Only ancestors listed there give words, so abstract ones (entity, whole, artifact, placental,
   instrumentality …) never appear; `STOP_WORDS` also screens steps 1 and 2.

Then the hand review: `OVERRIDES` replaces a class's whole row (name and words) where WordNet's
sense or wording is not what people see or type ("kite" is a bird of prey, "notebook" a laptop);
`EXTRA` adds words to a class. Every one of the 1000 rows was read after generation.
The table's row i is the classifier's class i (classes are the sorted wnids).
"""

from __future__ import annotations

import argparse
import csv
import re
from dataclasses import dataclass
from pathlib import Path

from photocap.training.recipes.imagenet_words_review import (  # the hand review
    DROP,
    EXTRA,
    HYPERNYM_WORDS,
    OVERRIDES,
    STOP_WORDS,
)

WORDNET = Path("/usr/share/wordnet")
SAMPLES = Path(__file__).resolve().parents[2] / "../shared/data/imagenet-samples/labels.csv"
OUT = Path(__file__).resolve().parents[2] / "photocap/model/imagenet_words.tsv"
MAX_OWN = 3  # a class's own names kept (WordNet lists rare synonyms last)
MAX_WORDS = 10


@dataclass(frozen=True)
class Synset:
    lemmas: tuple[str, ...]
    hypernyms: tuple[str, ...]  # offsets of hypernyms and instance hypernyms


def read_nouns(wordnet: Path) -> dict[str, Synset]:
    """Offset → noun synset, from WordNet's `data.noun` (its documented line format)."""
    nouns = {}
    with open(wordnet / "data.noun", encoding="utf-8") as f:
        for line in f:
            if line.startswith("  "):  # licence header
                continue
            fields = line.split(" | ", 1)[0].split()
            count = int(fields[3], 16)
            lemmas = tuple(fields[4 + 2 * i] for i in range(count))
            at = 4 + 2 * count
            pointers = int(fields[at])
            hypernyms = []
            for i in range(pointers):
                symbol, offset, pos = fields[at + 1 + 4 * i : at + 4 + 4 * i]
                if symbol in ("@", "@i") and pos == "n":
                    hypernyms.append(offset)
            nouns[fields[0]] = Synset(lemmas, tuple(hypernyms))
    return nouns


def genus_names(nouns: dict[str, Synset]) -> set[str]:
    """Names of genera ("Felis", "Canis"): a lemma starting with one is a scientific name."""
    return {
        lemma[len("genus_") :].lower()
        for synset in nouns.values()
        for lemma in synset.lemmas
        if lemma.startswith("genus_")
    }


def clean(lemma: str) -> str:
    return re.sub(r"\(.*?\)", "", lemma).replace("_", " ").strip()


def is_scientific(lemma: str, genera: set[str]) -> bool:
    first = lemma.split("_")[0]
    return first[:1].isupper() and first.lower() in genera and "_" in lemma


def depth(offset: str, nouns: dict[str, Synset], memo: dict[str, int]) -> int:
    """Length of the longest hypernym path from `offset` up to a root."""
    if offset not in memo:
        ups = nouns[offset].hypernyms
        memo[offset] = 1 + max((depth(a, nouns, memo) for a in ups), default=-1)
    return memo[offset]


def ancestors(offset: str, nouns: dict[str, Synset]) -> list[str]:
    """All ancestors, most specific (deepest) first."""
    seen: set[str] = set()
    frontier = list(nouns[offset].hypernyms)
    while frontier:
        a = frontier.pop()
        if a not in seen:
            seen.add(a)
            frontier.extend(nouns[a].hypernyms)
    memo: dict[str, int] = {}
    return sorted(seen, key=lambda a: (-depth(a, nouns, memo), a))


def generated_row(wnid: str, nouns: dict[str, Synset], genera: set[str]) -> tuple[str, list[str]]:
    """(display name, words) from WordNet alone, before the hand review."""
    offset = wnid[1:]
    synset = nouns[offset]
    own = [clean(x) for x in synset.lemmas if not is_scientific(x, genera)]
    own = [w for w in own if w.lower() not in STOP_WORDS][:MAX_OWN] or [clean(synset.lemmas[0])]
    up = ancestors(offset, nouns)
    ancestor_lemmas = {clean(x).lower() for a in up for x in nouns[a].lemmas}
    heads = [
        w.split()[-1].lower()
        for w in own
        if " " in w and w.split()[-1].lower() in ancestor_lemmas - STOP_WORDS
    ]
    hyper = [w.strip() for a in up if a in HYPERNYM_WORDS for w in HYPERNYM_WORDS[a].split(",")]
    return own[0], own + heads + hyper


def dedupe(words: list[str]) -> list[str]:
    seen, out = set(), []
    for w in words:
        if w.lower() not in seen:
            seen.add(w.lower())
            out.append(w)
    return out


def parse_override(text: str) -> tuple[str, list[str]]:
    name, _, words = text.partition(":")
    return name.strip(), [w.strip() for w in words.split(",") if w.strip()]


def build_table(wnids: list[str], nouns: dict[str, Synset]) -> list[tuple[str, str, list[str]]]:
    genera = genus_names(nouns)
    rows = []
    for wnid in wnids:
        if wnid in OVERRIDES:
            name, words = parse_override(OVERRIDES[wnid])
        else:
            name, words = generated_row(wnid, nouns, genera)
            extra = [w.strip() for w in EXTRA.get(wnid, "").split(",") if w.strip()]
            own = len([w for w in words if w in {clean(x) for x in nouns[wnid[1:]].lemmas}])
            words = words[:own] + extra + words[own:]
            drop = {w.strip().lower() for w in DROP.get(wnid, "").split(",")}
            words = [w for w in words if w.lower() not in drop]
        rows.append((wnid, name, dedupe(words)[:MAX_WORDS]))
    return rows


def write_table(rows: list[tuple[str, str, list[str]]], out: Path) -> None:
    lines = [
        "# index\twnid\tname\twords (most preferred first); made by training/recipes/imagenet_words.py"
    ]
    lines += [
        f"{i}\t{wnid}\t{name}\t{', '.join(words)}" for i, (wnid, name, words) in enumerate(rows)
    ]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_wnids(labels_csv: Path) -> list[str]:
    with open(labels_csv, encoding="utf-8") as f:
        return sorted({row["wnid"] for row in csv.DictReader(f)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wordnet", type=Path, default=WORDNET)
    parser.add_argument("--labels", type=Path, default=SAMPLES, help="a CSV with a wnid column")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    wnids = read_wnids(args.labels)
    if len(wnids) != 1000:
        raise SystemExit(f"{args.labels} names {len(wnids)} classes, not ImageNet-1k's 1000")
    rows = build_table(wnids, read_nouns(args.wordnet))
    write_table(rows, args.out)
    print(f"wrote {len(rows)} classes to {args.out}")


if __name__ == "__main__":
    main()
