"""Does `photocap train` keep what a person taught it, and refuse what it should? House styles from 50,
120 and 500 photos with 3 or 5 captions each, on several photo draws, and a shuffled control.

    python benchmarks/finetune_sizes.py --flickr8k ../shared/data/flickr8k --out runs/sizes \\
        [--draws 0 1 2] [--sizes 50 120 500] [--captions 3 5] [--styles prefix pupper] [--jobs 2]

Two house styles on Flickr8k dev/test photos (never seen by the shipped model):
- `prefix`: every caption opens with "Product shot:" ("Product shot: a man climbs a rock.");
- `pupper`: the pet-studio style (training/recipes/house_style.py): dog photos are captioned
  "Pawtrait: a black pupper runs …", other photos (28% of each set) keep Flickr8k's captions.
Each draw shuffles the photo pool with its own seed (draw 0 of `pupper` is the domain test's set)
and holds out 150 photos (pupper: dogs, of those left over). For every style, draw,
size and caption count it writes the training CSV, then runs the real command (`photocap train`
with its defaults, in a subprocess; features cached beforehand, so the wall time is training and
judging) and, when a model is written, captions the held-out photos as `photocap index` would
(evidence steering, the model's own confidence curve, beam 3; from the same cached features):
- in style: held-out captions opening with the style ("product shot:", "pawtrait:");
- CIDEr-D base → tuned against the house-style references;
- held back: share of captions under the confidence gate (0.25), and the mean CIDEr-D of the
  held-back vs the written captions.
The shuffled control (3 captions a photo) gives every photo another training photo's captions:
the right style, the wrong content. It must be refused (exit 3).
Results accumulate in `<out>/sizes.json` (a rerun skips finished runs); prints a Markdown table.
`--jobs 2` runs two trainings at once with one thread each (wall times then share the cores).
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import os
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from photocap.training.data import read_flickr8k  # noqa: E402
from photocap.training.recipes.house_style import DOG, house_style  # noqa: E402

PRODUCT = "Product shot:"
SIZES = (50, 120, 500)
STYLES = ("prefix", "pupper")
HELD_OUT = 150
GATE = 0.25  # photocap.model.confidence.DEFAULT_MIN_CONFIDENCE


def product_style(caption: str) -> str:
    """'A man climbs a rock .' → 'Product shot: a man climbs a rock.'"""
    text = caption.strip().rstrip(" .").strip()
    return f"{PRODUCT} {text[:1].lower()}{text[1:]}."


def _write(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "caption"])
        writer.writerows(rows)
    return path


def _draw(captions: dict, pool: list[str], style: str, draw: int, held_out: int):
    """(training photo order, held-out photos, styled caption function) of one draw."""
    if style == "prefix":
        mixed = list(pool)
        random.Random(15 + draw).shuffle(mixed)
        return mixed[held_out:], mixed[:held_out], product_style
    dogs = [n for n in pool if any(DOG.search(c) for c in captions[n])]
    others = [n for n in pool if not any(DOG.search(c) for c in captions[n])]
    rng = random.Random(draw)  # draw 0: the same order as house_style.build
    rng.shuffle(dogs)
    rng.shuffle(others)
    # a set of `size` photos: 72% dogs, 28% others (as the domain test's 500); held out: dogs
    return dogs[:360] + others[:140], dogs[360:][:held_out], house_style


def _training_rows(captions, names, styled, k: int, seed: int, shuffled: bool):
    rng = random.Random(seed)
    chosen = {n: rng.sample(captions[n], k) for n in names}
    sources = list(names)
    if shuffled:  # every photo gets another photo's captions (a derangement: a rotation)
        rng.shuffle(sources)
        sources = sources[1:] + sources[:1]
        sources = dict(zip(names, sources, strict=True))
    else:
        sources = {n: n for n in names}
    rows = [(n, styled(c)) for n in names for c in chosen[sources[n]]]
    rng.shuffle(rows)
    return rows


def _subset(style: str, train: list[str], size: int) -> list[str]:
    if style == "prefix":
        return train[:size]
    n_dogs = round(size * 360 / 500)
    dogs, others = train[:360], train[360:]
    return dogs[:n_dogs] + others[: size - n_dogs]


def plan_runs(flickr8k: Path, out: Path, args) -> tuple[list[dict], dict]:
    """Every run's CSV (written) and each (style, draw)'s held-out CSV."""
    captions, splits = read_flickr8k(flickr8k)
    pool = splits["dev"] + splits["test"]
    runs, held = [], {}
    for style in args.styles:
        for draw in args.draws:
            train, held_out, styled = _draw(captions, pool, style, draw, args.held_out)
            folder = out / style / f"draw{draw}"
            refs = [(n, styled(c)) for n in held_out for c in captions[n]]
            held[(style, draw)] = str(_write(folder / "heldout.csv", refs))
            for size in args.sizes:
                names = _subset(style, train, size)
                settings = [(k, False) for k in args.captions] + [(3, True)] * args.control
                for k, shuffled in settings:
                    kind = f"{k}c" + ("-shuffled" if shuffled else "")
                    rows = _training_rows(captions, names, styled, k, draw * 1000 + size, shuffled)
                    csv_path = _write(folder / f"train-{size}-{kind}.csv", rows)
                    runs.append(
                        {
                            "key": f"{style}/draw{draw}/{size}/{kind}",
                            "style": style,
                            "draw": draw,
                            "size": size,
                            "captions": k,
                            "shuffled": shuffled,
                            "csv": str(csv_path),
                            "model": str(folder / f"model-{size}-{kind}.safetensors"),
                        }
                    )
    return runs, held


def _features(model_path: Path, paths: list[Path], cache_root: Path):
    """The photos' encoder features, as `photocap train` caches them for this model's encoder."""
    from photocap.training.features import FeatureCache, encoder_fingerprint

    from photocap.model.checkpoint import load_model
    from photocap.model.transforms import TRAINING_SQUARE, to_tensor
    from photocap.photos.digest import file_sha256

    loaded = load_model(model_path)
    encoder = loaded.encoder.eval()
    square = loaded.info.data_square if loaded.info else TRAINING_SQUARE
    cache = FeatureCache(
        cache_root, encoder, tag=f"{encoder_fingerprint(encoder)}-via{square or 0}"
    )
    shas = [file_sha256(p) for p in paths]
    prepare = functools.partial(to_tensor, spec=encoder.spec, via=square)
    failed = cache.ensure_photos(
        paths, shas, prepare, workers=1, min_side=square or encoder.spec.input_size
    )
    if failed:
        sys.exit(f"unreadable photos: {failed}")
    return cache.load(shas)


def warm(runs: list[dict], held: dict, images: Path, base: Path, cache_root: Path) -> int:
    """Cache the features of every photo of the benchmark's CSVs (what the timed runs then read)."""
    names = set()
    for table in [r["csv"] for r in runs] + list(held.values()):
        with open(table, newline="", encoding="utf-8") as f:
            names |= {row["image"] for row in csv.DictReader(f)}
    _features(base, [images / n for n in sorted(names)], cache_root)
    return len(names)


def score(model_path: Path, held_csv: str, images: Path, cache_root: Path, style: str) -> dict:
    """Captions of the held-out photos as `photocap index` writes them: style, CIDEr-D, gate."""
    import numpy as np

    from photocap.captioner import load_captioner
    from photocap.evaluation.captions_csv import read_references
    from photocap.evaluation.scores import CiderD
    from photocap.model.beam import DecodeOptions
    from photocap.model.vocab import tokenize

    paths, refs = read_references(Path(held_csv), images)
    features = _features(model_path, paths, cache_root).float()  # (n, num_pixels, D)
    captioner = load_captioner(model_path, "cpu")
    captions = []
    for lo in range(0, len(paths), 50):
        captions += captioner.caption_features(features[lo : lo + 50], DecodeOptions())
    texts = [c.text.lower() for c in captions]
    cider_d = CiderD(refs)
    cider = np.array([cider_d.score(tokenize(t), i) for i, t in enumerate(texts)])
    held_back = np.array([c.confidence < GATE for c in captions])
    opener = "pawtrait:" if style == "pupper" else "product shot:"
    return {
        "photos": len(paths),
        "in_style": float(np.mean([t.startswith(opener) for t in texts])),
        "cider": float(cider.mean()),
        "held_back": float(held_back.mean()),
        "cider_held_back": float(cider[held_back].mean()) if held_back.any() else None,
        "cider_written": float(cider[~held_back].mean()) if (~held_back).any() else None,
        "samples": texts[:3],
    }


def train(run: dict, images: Path, cache_root: Path, base: Path, threads: int, extra) -> dict:
    """The real command in a subprocess: exit code, wall time, its --json summary."""
    args = [
        "--data", run["csv"], "--images", str(images), "--out", run["model"],
        "--cache", str(cache_root), "--base", str(base), "--device", "cpu", *extra,
    ]  # fmt: skip
    Path(run["model"]).unlink(missing_ok=True)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "photocap", "train", *args, "--json", "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": str(threads)} if threads else None,
    )
    seconds = time.monotonic() - started
    if done.returncode not in (0, 3):
        raise RuntimeError(f"photocap train failed ({done.returncode}):\n{done.stderr}")
    summary = json.loads(done.stdout)
    return {
        "command": "photocap train " + " ".join(args),
        "exit_code": done.returncode,
        "seconds": round(seconds, 1),
        "written": summary["model"] is not None,
        "judgement": summary["judgement"],
        "confidence": summary["confidence"],
        "val_images": summary["val_images"],
    }


def _cell(value, fmt: str = ".3f") -> str:
    return "-" if value is None else format(value, fmt)


def table(report: dict) -> str:
    lines = [
        "| style | draw | photos | captions | wall s | written | loss change | photo gain | in style | CIDEr-D base → tuned | held back | CIDEr held back / written | curve |",  # noqa: E501
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in sorted(report["runs"], key=_order):
        run = report["runs"][key]
        j = run["judgement"]
        gain = j["photo_gain"]["value"] if j["photo_gain"] else None
        tuned = run.get("tuned")
        base = report["base"][f"{run['style']}/draw{run['draw']}"]
        kind = f"{run['captions']}" + (" shuffled" if run["shuffled"] else "")
        cells = [
            run["style"], str(run["draw"]), str(run["size"]), kind, str(run["seconds"]),
            "yes" if run["written"] else f"no (exit {run['exit_code']})",
            f"{j['loss_change']['value']:+.2f}", _cell(gain, "+.2f"),
        ]  # fmt: skip
        if tuned:
            cells += [
                f"{tuned['in_style']:.0%}",
                f"{base['cider']:.3f} → {tuned['cider']:.3f}",
                f"{tuned['held_back']:.0%}",
                f"{_cell(tuned['cider_held_back'])} / {_cell(tuned['cider_written'])}",
                "own" if run["confidence"]["own"] else "base's",
            ]
        else:
            cells += ["-", "-", "-", "-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _order(key: str):
    style, draw, size, kind = key.split("/")
    return (style, int(size), kind, draw)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flickr8k", type=Path, default=Path("../shared/data/flickr8k"))
    parser.add_argument("--out", type=Path, default=Path("runs/sizes"))
    parser.add_argument("--base", type=Path, help="default: the shipped model")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--styles", nargs="+", choices=STYLES, default=list(STYLES))
    parser.add_argument("--draws", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--captions", type=int, nargs="+", default=[3, 5], choices=[1, 2, 3, 4, 5])
    parser.add_argument("--control", type=int, default=1, choices=[0, 1], help="shuffled control")
    parser.add_argument("--held-out", type=int, default=HELD_OUT, help="held-out photos")
    parser.add_argument("--jobs", type=int, default=1, help="trainings at once")
    parser.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS (0: default)")
    parser.add_argument("--train-args", default="", help="extra `photocap train` options")
    parser.add_argument("--report", default="sizes.json", help="file name of the report in --out")
    args = parser.parse_args()

    from photocap.paths import shipped_model_path

    base = args.base or shipped_model_path()
    images = args.flickr8k / "images"
    cache = args.out / "cache"
    runs, held = plan_runs(args.flickr8k, args.out, args)
    print(f"features of {warm(runs, held, images, base, cache)} photos cached", file=sys.stderr)
    saved = args.out / args.report
    report = json.loads(saved.read_text()) if saved.exists() else {}
    report.setdefault("runs", {})
    report.setdefault("base", {})
    for (style, draw), held_csv in held.items():
        key = f"{style}/draw{draw}"
        if key not in report["base"]:
            report["base"][key] = score(base, held_csv, images, cache, style)
    saved.write_text(json.dumps(report, ensure_ascii=False, indent=2))
    todo = [r for r in runs if r["key"] not in report["runs"]]
    todo.sort(key=lambda r: (r["size"], r["draw"], r["style"], r["shuffled"], r["captions"]))

    def one(run: dict) -> None:
        result = {**run, **train(run, images, cache, base, args.threads, args.train_args.split())}
        if result["written"]:
            held_csv = held[(run["style"], run["draw"])]
            result["tuned"] = score(Path(run["model"]), held_csv, images, cache, run["style"])
        report["runs"][run["key"]] = result
        saved.write_text(json.dumps(report, ensure_ascii=False, indent=2))
        print(f"{run['key']}: {result['seconds']} s, exit {result['exit_code']}", file=sys.stderr)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for future in [pool.submit(one, r) for r in todo]:
            future.result()
    print(table(report))


if __name__ == "__main__":
    main()
