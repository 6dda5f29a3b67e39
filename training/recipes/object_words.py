"""Re-create `photocap/model/object_words.tsv`: the objects a caption can name, as synonym groups.

    python -m photocap.training.recipes.object_words [--wordnet /usr/share/wordnet] [--out PATH]

CHAIR (Rohrbach et al., EMNLP 2018) folds a caption's object words into groups ("man", "girl",
"skier" → person) and checks each group against what the photo holds; the evidence detectors and
evidence-weighted decoding use the same groups. A group is a few WordNet 3.0 noun synsets (read
from Debian's `wordnet-base`, nothing downloaded) plus words added by hand. A word joins a group
when its **first** noun sense (WordNet orders senses by frequency) is one of the group's synsets or
below one: "poodle" and "puppy" are dogs, "bull" is cattle (a policeman only in its fourth sense),
"mouse" an animal. Only words a caption can contain are kept: those Flickr8k's captions use or the
ImageNet word table holds. Multi-word names ("hot dog", "teddy bear", "soccer ball") are matched
before their last word, so a hot dog is food, not a dog. Plurals come from WordNet's `noun.exc`
(men, children, mice) and the English rules.

The hand review: `DROP` removes words that the first-sense rule lets in but captions use for
something else ("orange" is a colour in Flickr8k, "slide" mostly a verb); `EXTRA` adds words WordNet
files elsewhere ("people", "crowd", "team" are groups of persons; "bike" is a bicycle). Every group
was read after generation.
"""

from __future__ import annotations

import argparse
import csv
import re
from collections import Counter, defaultdict
from pathlib import Path

from photocap.training.recipes.imagenet_words import Synset, read_nouns

from photocap.model.labels import imagenet_classes

WORDNET = Path("/usr/share/wordnet")
ROOT = Path(__file__).resolve().parents[2]
CAPTIONS = ROOT / "../shared/data/flickr8k/captions.txt"
OUT = ROOT / "photocap/model/object_words.tsv"

# group → (kind, WordNet lemmas whose first noun sense heads the group). Kinds: person, animal,
# vehicle, food, furniture, object (things you can point at) and scene (stuff and places: water,
# grass, snow), which CHAIR reports apart as the standard measure counts objects only.
GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "person": ("person", ("person",)),
    "dog": ("animal", ("dog",)),
    "cat": ("animal", ("domestic_cat", "kitten")),
    "big cat": ("animal", ("big_cat",)),
    "horse": ("animal", ("horse", "pony", "foal")),
    "cattle": ("animal", ("cattle", "cow", "bull", "calf", "ox")),
    "sheep": ("animal", ("sheep", "lamb")),
    "goat": ("animal", ("goat",)),
    "pig": ("animal", ("swine", "pig", "hog")),
    "bird": ("animal", ("bird",)),
    "fish": ("animal", ("fish",)),
    "elephant": ("animal", ("elephant",)),
    "bear": ("animal", ("bear",)),
    "giraffe": ("animal", ("giraffe",)),
    "zebra": ("animal", ("zebra",)),
    "deer": ("animal", ("deer", "antelope")),
    "monkey": ("animal", ("monkey", "ape")),
    "camel": ("animal", ("camel",)),
    "rabbit": ("animal", ("rabbit",)),
    "rodent": ("animal", ("rodent",)),
    "insect": ("animal", ("insect", "spider")),
    "reptile": ("animal", ("snake", "lizard", "turtle", "crocodile")),
    "frog": ("animal", ("frog",)),
    "car": ("vehicle", ("car", "taxi", "jeep", "convertible", "limousine")),
    "bus": ("vehicle", ("bus",)),
    "truck": ("vehicle", ("truck", "tractor", "van")),
    "motorcycle": ("vehicle", ("motorcycle", "moped", "scooter")),
    "bicycle": ("vehicle", ("bicycle", "unicycle", "tricycle")),
    "boat": ("vehicle", ("boat", "ship", "canoe", "kayak", "raft")),
    "airplane": ("vehicle", ("airplane", "aircraft", "helicopter")),
    "train": ("vehicle", ("train", "locomotive", "streetcar")),
    "ball": ("object", ("ball",)),
    "frisbee": ("object", ("frisbee",)),
    "skateboard": ("object", ("skateboard",)),
    "surfboard": ("object", ("surfboard",)),
    "ski": ("object", ("ski",)),
    "snowboard": ("object", ("snowboard",)),
    "sled": ("object", ("sled",)),
    "kite": ("object", ()),
    "racket": ("object", ("racket",)),
    "bat": ("object", ()),
    "umbrella": ("object", ("umbrella",)),
    "bag": ("object", ("bag", "backpack", "purse")),
    "bottle": ("object", ("bottle",)),
    "cup": ("object", ("cup", "mug")),
    "book": ("object", ("book",)),
    "phone": ("object", ("telephone", "cellphone")),
    "camera": ("object", ("camera",)),
    "computer": ("object", ("computer", "laptop", "keyboard", "monitor")),
    "television": ("object", ("television",)),
    "clock": ("object", ("clock",)),
    "guitar": ("object", ("guitar",)),
    "drum": ("object", ("drum",)),
    "flag": ("object", ("flag",)),
    "balloon": ("object", ("balloon",)),
    "toy": ("object", ("doll", "teddy")),
    "chair": ("furniture", ("chair", "stool")),
    "bench": ("furniture", ("bench",)),
    "table": ("furniture", ("table", "desk")),
    "couch": ("furniture", ("sofa",)),
    "bed": ("furniture", ("bed",)),
    "pizza": ("food", ("pizza",)),
    "cake": ("food", ("cake",)),
    "sandwich": ("food", ("sandwich", "hamburger")),
    "hot dog": ("food", ("hotdog",)),
    "fruit": ("food", ("banana", "apple", "strawberry", "lemon", "pineapple")),
    "vegetable": ("food", ("broccoli", "carrot", "cabbage", "mushroom")),
    "bread": ("food", ("bread", "bagel", "pretzel")),
    "ice cream": ("food", ("ice_cream",)),
    "drink": ("food", ("coffee", "espresso", "beer", "wine", "tea")),
    "water": ("scene", ("body_of_water",)),
    "grass": ("scene", ("grass", "lawn")),
    "snow": ("scene", ("snow",)),
    "sand": ("scene", ("sand",)),
    "tree": ("scene", ("tree", "forest")),
    "mountain": ("scene", ("mountain", "hill", "cliff")),
    "street": ("scene", ("street", "road", "sidewalk")),
    "building": ("scene", ("building", "house")),
}

# Words added by hand (group → words): WordNet files them elsewhere, or not as a first sense.
EXTRA: dict[str, tuple[str, ...]] = {
    "person": (
        "people",
        "crowd",
        "team",
        "family",
        "couple",
        "audience",
        "someone",
        "kid",
        "guy",
        "lady",
        "player",
        "rider",
        "biker",
        "skier",
        "surfer",
        "snowboarder",
        "skateboarder",
        "climber",
        "swimmer",
        "cyclist",
        "runner",
        "dancer",
        "hiker",
        "toddler",
        "baby",
        "teenager",
        "teen",
        "adult",
        "spectator",
        "cowboy",
        "wrestler",
        "goalie",
        "bride",
        "groom",
        "band",
        "choir",
        "tourist",
        "pedestrian",
        "blonde",
        "brunette",
        "gymnast",
        "soldier",
        "jockey",
        "kayaker",
        "motorcyclist",
        "footballer",
        "skater",
        "golfer",
        "fisherman",
        "musician",
        "guitarist",
        "drummer",
        "singer",
    ),
    "dog": (
        "puppy",
        "pup",
        "doggy",
        "poodle",
        "terrier",
        "collie",
        "retriever",
        "spaniel",
        "greyhound",
        "dachshund",
        "husky",
        "beagle",
        "labrador",
        "pitbull",
        "bulldog",
    ),
    "cat": ("cat", "kitten", "kitty", "tabby"),
    "horse": ("horse", "pony", "foal", "stallion", "mare"),
    "bird": ("seagull", "gull", "duck", "goose", "swan", "pigeon", "parrot", "chicken"),
    "bicycle": ("bike", "bmx", "mountain bike"),
    "motorcycle": ("motorbike", "dirt bike", "motocross bike", "atv", "four wheeler"),
    "car": ("racecar", "race car", "suv"),
    "boat": ("canoe", "kayak", "raft", "sailboat", "speedboat", "jetski"),
    "airplane": ("plane", "jet"),
    "ball": (
        "football",
        "basketball",
        "volleyball",
        "baseball",
        "softball",
        "soccer ball",
        "tennis ball",
        "beach ball",
        "golf ball",
        "rugby ball",
        "beachball",
    ),
    "frisbee": ("frisbee", "frisbees", "flying disc"),
    "kite": ("kite",),
    "racket": ("racquet", "tennis racket", "tennis racquet"),
    "bat": ("baseball bat", "cricket bat"),
    "ski": ("skis",),
    "bag": ("backpack", "handbag", "purse", "suitcase", "luggage"),
    "phone": ("phone", "cellphone", "cell phone", "smartphone"),
    "computer": ("laptop", "computer", "keyboard"),
    "television": ("tv",),
    "giraffe": ("giraffe",),
    "balloon": ("balloon", "hot air balloon"),
    "toy": ("teddy bear", "stuffed animal", "stuffed bear", "doll"),
    "couch": ("couch", "sofa"),
    "hot dog": ("hot dog", "hotdog"),
    "ice cream": ("ice cream", "icecream", "ice cream cone"),
    "sandwich": ("burger", "hamburger"),
    "drink": ("espresso", "cappuccino", "latte", "soda"),
    "water": (
        "water",
        "ocean",
        "lake",
        "river",
        "sea",
        "pool",
        "stream",
        "wave",
        "waves",
        "surf",
        "puddle",
        "pond",
        "creek",
        "waterfall",
        "fountain",
        "swimming pool",
    ),
    "grass": ("grass", "grassy", "lawn", "meadow"),
    "snow": ("snow", "snowy", "snowbank"),
    "sand": ("sand", "sandy", "beach", "dune"),
    "tree": ("tree", "trees", "forest", "woods", "wooded"),
    "mountain": ("mountain", "mountains", "hill", "hillside", "cliff", "mountainside"),
    "street": ("street", "road", "sidewalk", "highway", "alley"),
    "building": ("building", "house", "skyscraper", "church", "tower"),
}

# Words the first-sense rule lets in that captions use for something else, or too vaguely to
# count as naming an object (reviewed on the generated table).
DROP: frozenset[str] = frozenset(
    [
        "orange",
        "lime",
        "olive",
        "peach",
        "plum",
        "cherry",
        "chestnut",
        "tan",
        "cream",
        "coffee",
        "fawn",
        "rust",
        "khaki",
        "beige",
        "slate",
        "ginger",
        "lavender",
        "cinnamon",
        "mint",
        "jet",
        "tiger_lily",
        "top",
        "slide",
        "board",
        "stick",
        "field",
        "head",
        "face",
        "back",
        "side",
        "body",
        "front",
        "line",
        "group",
        "team_member",
        "head_of_state",
        "individual",
        "soul",
        "mortal",
        "somebody",
        "worker",
        "character",
        "giant",
        "dwarf",
        "native",
        "model",
        "master",
        "lover",
        "mother_hen",
        "black",
        "white",
        "red",
        "blonde_person",
        "cross",
        "chip",
        "runner_bean",
        "hot",
        "albert_einstein",
        "anti",
        "antique",
        "banks",
        "bannister",
        "badger",
        "ancient",
        "game",
        "set",
        "track",
        "course",
        "cart",
        "bowl",
        "plate",
        "trunk",
        "pipe",
        "tank",
        "tube",
        "bin",
        "beacon",
        "post",
        "pole",
        "tower_block",
        "shelter",
        "home",
        "house_of_cards",
        "casting",
        "jumper",
        "speaker",
        "banner",
        "lift",
        "bank",
        "bird_of_passage",
        "cock",
        "deck",
        "page",
        "sport",
        "wing",
        "pop",
        "lemon_yellow",
        "heel",
        "stern",
        "wave_shape",
        "point",
        "shade",
        "air",
        "whole",
        "aquatic_vertebrate",
        "pitch",
        "hand",
        "dish",
        "salad",
        "tire",
        "wheel",
        "leash",
        "collar",
        "rope",
        "chain",
        "fence",
        "barrier",
        "lamb_chop",
        "turkey_cock",
        "bighorn",
        "cam",
        "forth",
        "main",
        "mobile",
        "ping",
        "narrow",
        "narrows",
        "wisconsin",
        "golden_gate",
        "caribbean",
        "white_river",
        "bull_run",
        "cereal",
        "chess",
        "corn",
        "maize",
        "wheat",
        "contents",
        "lower",
        "upper",
        "electric",
        "technical",
        "pocket",
        "directory",
        "vocabulary",
        "slide_rule",
        "web_site",
        "website",
        "colors",
        "hind",
        "entire",
        "beef",
        "sub",
        "launch",
        "nautilus",
        "vintage",
        "flamboyant",
        "kaki",
        "titi",
        "rattan",
        "custard_apple",
        "jackfruit",
        "horse_chestnut",
        "pomegranate",
        *[
            "grey",
            "gray",
            "tiger",
            "whale",
            "primate",
            "king",
            "monitor",
            "fan",
            "boxer",
            "setter",
            "hammerhead",
            "european",
            "american",
            "african",
            "german",
            "mexican",
            "comic",
            "comics",
            "printer",
            "ruler",
            "washer",
            "passenger",
            "picket",
            "maker",
            "shaker",
            "trailer",
            "camper",
            "rocker",
            "loafer",
            "harvester",
            "plunger",
            "screw",
            "fighter",
            "jay",
            "drake",
            "crane",
            "heron",
            "ostrich",
            "scorpion",
            "weasel",
            "skunk",
            "dalmatian",
            "samoyed",
            "gibbon",
            "loggerhead",
            "torpedo",
            "chameleon",
            "monarch",
            "admiral",
            "fossil",
            "doormat",
            "priest",
            "pitcher",
            "punching_bag",
        ],
    ]
)

NOT_MEN = frozenset({"human", "shaman", "caiman", "talisman", "ottoman", "german", "roman"})

_WORD = re.compile(r"[a-z]+(?: [a-z]+)*")


def first_senses(wordnet: Path) -> dict[str, str]:
    """Lemma ("hot_dog") → the offset of its first (most frequent) noun sense, from `index.noun`."""
    first = {}
    with open(wordnet / "index.noun", encoding="utf-8") as f:
        for line in f:
            if line.startswith("  "):
                continue
            fields = line.split()
            senses = int(fields[2])
            pointers = int(fields[3])
            offsets = fields[6 + pointers : 6 + pointers + senses]
            first[fields[0]] = offsets[0]
    return first


def classes_under(lemmas: tuple[str, ...], wordnet: Path = WORDNET) -> list[bool]:
    """For each ImageNet class (in class order), whether its synset lies below the first noun
    sense of one of `lemmas` ("clothing", "animal")."""
    from photocap.model.words import imagenet_classes

    nouns, first = read_nouns(wordnet), first_senses(wordnet)
    heads = {first[lemma] for lemma in lemmas}
    return [bool(heads & ancestors(nouns, c.wnid[1:])) for c in imagenet_classes()]


def ancestors(nouns: dict[str, Synset], offset: str) -> set[str]:
    """A synset's offset and those of all its hypernyms."""
    seen, todo = set(), [offset]
    while todo:
        current = todo.pop()
        if current in seen or current not in nouns:
            continue
        seen.add(current)
        todo.extend(nouns[current].hypernyms)
    return seen


def irregular_plurals(wordnet: Path) -> dict[str, list[str]]:
    """Singular → its irregular plurals ("man" → ["men"]), from `noun.exc`."""
    plurals: dict[str, list[str]] = defaultdict(list)
    for line in (wordnet / "noun.exc").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 2:
            plurals[parts[1]].append(parts[0])
    return plurals


def plural_forms(word: str, irregular: dict[str, list[str]]) -> set[str]:
    """A noun's plurals: WordNet's irregular ones, else the English rules (last word inflected)."""
    key = word.replace(" ", "_")
    if key in irregular:
        return {p.replace("_", " ") for p in irregular[key]}
    head, _, last = word.rpartition(" ")
    prefix = f"{head} " if head else ""
    if last.endswith("man") and last not in NOT_MEN:  # WordNet's own rule: -men → -man
        return {f"{prefix}{last[:-3]}men"}
    if last.endswith("s") and not last.endswith(("ss", "us")):
        return set()  # a plural already ("skis", "woods")
    if last.endswith(("s", "x", "z", "ch", "sh")):
        return {f"{prefix}{last}es"}
    if last.endswith("y") and last[-2:-1] not in tuple("aeiou"):
        return {f"{prefix}{last[:-1]}ies"}
    return {f"{prefix}{last}s"}


def caption_words(captions: Path, at_least: int = 1) -> set[str]:
    """Words and word pairs Flickr8k's captions use at least `at_least` times."""
    counts: Counter[str] = Counter()
    if captions.exists():
        with open(captions, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                tokens = re.findall(r"[a-z]+", row["caption"].lower())
                counts.update(tokens)
                counts.update(f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False))
    return {w for w, n in counts.items() if n >= at_least}


def table_words() -> set[str]:
    """The ImageNet word table's names."""
    return {w.lower() for cls in imagenet_classes() for w in cls.words}


def build(wordnet: Path, captions: Path) -> dict[str, tuple[str, list[str]]]:
    """Group → (kind, its words and their plurals, sorted)."""
    nouns = read_nouns(wordnet)
    first = first_senses(wordnet)
    irregular = irregular_plurals(wordnet)
    # WordNet files hundreds of odd senses under person ("whale", "grey", "tiger", "monitor"):
    # person words must be ones Flickr8k's captions use for people, at least twice
    people = caption_words(captions, at_least=2)
    usable = caption_words(captions) | table_words()
    heads = {
        group: {first[lemma] for lemma in lemmas if lemma in first}
        for group, (_, lemmas) in GROUPS.items()
    }

    members: dict[str, set[str]] = defaultdict(set)
    for lemma, offset in first.items():
        word = lemma.replace("_", " ")
        if word not in usable or lemma in DROP or word in DROP or not _WORD.fullmatch(word):
            continue
        above = ancestors(nouns, offset)
        for group, offsets in heads.items():
            if offsets & above and (GROUPS[group][0] != "person" or word in people):
                members[group].add(word)
    for group, words in EXTRA.items():
        members[group].update(words)
    taken: dict[str, str] = {}  # a word in two groups: the hand review's, else the first listed
    for group, words in EXTRA.items():
        for word in words:
            for form in {word} | plural_forms(word, irregular):
                taken.setdefault(form, group)
    table = {}
    for group, (kind, _) in GROUPS.items():
        words = set()
        for word in sorted(members[group]):
            for form in {word} | plural_forms(word, irregular):
                if taken.setdefault(form, group) == group:
                    words.add(form)
        table[group] = (kind, sorted(words))
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wordnet", type=Path, default=WORDNET)
    parser.add_argument("--captions", type=Path, default=CAPTIONS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    table = build(args.wordnet, args.captions)
    lines = [
        "# group\tkind\twords; made by training/recipes/object_words.py (WordNet 3.0 + review)"
    ]
    lines += [f"{g}\t{kind}\t{', '.join(words)}" for g, (kind, words) in table.items()]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(table)} groups, {sum(len(w) for _, w in table.values())} words → {args.out}")


if __name__ == "__main__":
    main()
