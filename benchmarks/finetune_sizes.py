"""How well `photocap train` learns a house style from 50, 120 and 500 photos, and how long it takes.

    python benchmarks/finetune_sizes.py --flickr8k ../shared/data/flickr8k --out runs/sizes

Two house styles on Flickr8k dev/test photos (never seen by the shipped model):
- `prefix`: every caption opens with "Product shot:" ("Product shot: a man climbs a rock.");
- `pupper`: the domain test's pet-studio style (training/recipes/house_style.py): dog photos are captioned
  "Pawtrait: a black pupper runs …", other photos keep Flickr8k's captions. Its 500-photo set is
  exactly the domain test's, and every size is held out against the same photos.

For each style and size it writes the training CSV, runs the real command (`photocap train`, in
a subprocess, features cached beforehand so the time is training alone) with `--tune words` (the
default) and `--tune all` (every decoder weight trains: the baseline of the speed), then captions
the held-out photos (beam 3, from the same cached features `photocap caption` would compute) with
the base and the fine-tuned model: the share captioned in the style and CIDEr etc. against the
house-style references. Writes `<out>/sizes.json` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from photocap.training.data import read_flickr8k  # noqa: E402
from photocap.training.recipes.house_style import DOG, house_style  # noqa: E402

PRODUCT = "Product shot:"
SIZES = (50, 120, 500)
STYLES = ("prefix", "pupper")
TUNES = ("words", "all")


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


def build(flickr8k: Path, out: Path, sizes=SIZES) -> dict:
    """Training CSVs for every style and size, and the held-out CSVs of each style.

    `pupper`: the photo order and held-out photos of training/recipes/house_style.py's build (360 dogs
    and 140 others train at 500; smaller sizes take the first 72% dogs / 28% others of those).
    `prefix`: 150 held-out photos; the training sets are nested (the 50 are among the 120 …).
    """
    captions, splits = read_flickr8k(flickr8k)
    pool = splits["dev"] + splits["test"]
    dogs = [n for n in pool if any(DOG.search(c) for c in captions[n])]
    others = [n for n in pool if not any(DOG.search(c) for c in captions[n])]
    rng = random.Random(0)  # the same draws as house_style.build
    rng.shuffle(dogs)
    rng.shuffle(others)
    held_dogs = dogs[360:]
    held_others = others[140 : 140 + len(held_dogs)]
    plan: dict = {"pupper": {}, "prefix": {}}
    for size in sizes:
        n_dogs = round(size * 360 / 500)
        rows = [(n, house_style(c)) for n in dogs[:n_dogs] for c in captions[n]]
        rows += [(n, c) for n in others[: size - n_dogs] for c in captions[n]]
        random.Random(size).shuffle(rows)
        plan["pupper"][size] = str(_write(out / "pupper" / f"train-{size}.csv", rows))
    _write(out / "pupper" / "heldout-style.csv", [(n, house_style(c)) for n in held_dogs for c in captions[n]])  # fmt: skip
    _write(out / "pupper" / "heldout-others.csv", [(n, c) for n in held_others for c in captions[n]])  # fmt: skip

    mixed = list(pool)
    random.Random(15).shuffle(mixed)
    held = mixed[:150]
    for size in sizes:
        rows = [(n, product_style(c)) for n in mixed[150 : 150 + size] for c in captions[n]]
        random.Random(size).shuffle(rows)
        plan["prefix"][size] = str(_write(out / "prefix" / f"train-{size}.csv", rows))
    _write(out / "prefix" / "heldout-style.csv", [(n, product_style(c)) for n in held for c in captions[n]])  # fmt: skip
    return plan


def _heldout(csv_path: Path, images: Path) -> tuple[list[Path], list[list[str]]]:
    from photocap.evaluation.captions_csv import read_references

    return read_references(csv_path, images)


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


def warm(out: Path, images: Path, base: Path, cache_root: Path) -> int:
    """Cache the features of every photo of the benchmark's CSVs (what the timed runs then read)."""
    names = set()
    for table in out.glob("*/*.csv"):
        with open(table, newline="", encoding="utf-8") as f:
            names |= {row["image"] for row in csv.DictReader(f)}
    _features(base, [images / n for n in sorted(names)], cache_root)
    return len(names)


def _style_rates(texts: list[str], style: str) -> dict[str, float]:
    lower = [t.lower() for t in texts]
    opener = "pawtrait:" if style == "pupper" else "product shot:"
    rates = {"in_style": sum(t.startswith(opener) for t in lower) / len(lower)}
    if style == "pupper":
        rates["pupper"] = sum("pupper" in t for t in lower) / len(lower)
        rates["dog"] = sum(bool(DOG.search(t)) for t in lower) / len(lower)
    return rates


def score(model_path: Path, csv_path: Path, images: Path, cache_root: Path, style: str) -> dict:
    """Beam-3 captions of the held-out photos by `model_path`: scores and style rates."""
    from photocap.training.data import CaptionSet
    from photocap.training.train import evaluate_decoder

    from photocap.model.checkpoint import load_model

    paths, refs = _heldout(csv_path, images)
    features = _features(model_path, paths, cache_root)  # (n, num_pixels, D)
    loaded = load_model(model_path)
    data = CaptionSet([str(p) for p in paths], [p.name for p in paths], refs)
    scores, captions = evaluate_decoder(
        loaded.decoder.eval(), features, data, loaded.info.vocabulary, beam=3
    )
    texts = [captions[str(i)] for i in range(len(paths))]
    return {
        "images": len(paths),
        "scores": {k: round(v, 4) for k, v in scores.items()},
        **{k: round(v, 4) for k, v in _style_rates(texts, style).items()},
        "samples": dict(zip([p.name for p in paths[:4]], texts[:4], strict=True)),
    }


def train(
    csv_path: Path, images: Path, model: Path, cache_root: Path, extra: list[str], threads: int
) -> dict:
    """The real command in a subprocess: its --json summary, wall time and the load around it."""
    load_before = os.getloadavg()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    args = [
        "--data", str(csv_path), "--images", str(images), "--out", str(model),
        "--cache", str(cache_root), "--device", "cpu", *extra,
    ]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "photocap", "train", *args, "--json", "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": str(threads)} if threads else None,
    )
    seconds = time.monotonic() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    if done.returncode not in (0, 3):
        sys.exit(f"photocap train failed ({done.returncode}):\n{done.stderr}")
    summary = json.loads(done.stdout)
    return {
        "command": "photocap train " + " ".join(args),
        "exit_code": done.returncode,
        "threads": threads or "torch default",
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),  # user + system: the wall time on idle cores, 1 thread
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "summary": summary,
    }


def table(report: dict) -> str:
    lines = [
        "| style | photos | tune | wall s | CPU s | steps | model | in style | CIDEr | BLEU-4 | others CIDEr | others in style |",  # noqa: E501
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def scores(result: dict) -> str:
        style = result["style"]
        cells = f"{style['in_style']:.0%} | {style['scores']['CIDEr']:.3f} | {style['scores']['BLEU-4']:.3f} | "
        others = result.get("others")
        return cells + (
            f"{others['scores']['CIDEr']:.3f} | {others['in_style']:.0%} |" if others else "- | - |"
        )

    for style, by_size in report["runs"].items():
        lines.append(f"| {style} | - | - | - | - | - | base | " + scores(report["base"][style]))
        for size, by_tune in by_size.items():
            for tune, run in by_tune.items():
                cells = f"| {style} | {size} | {tune} | {run['seconds']} | {run['cpu_seconds']} | "
                tuned = run.get("tuned")
                if tuned is None:
                    lines.append(cells + "- | no model | | | | | |")
                else:
                    steps = run["summary"].get("steps", "-")
                    lines.append(cells + f"{steps} | fine-tuned | " + scores(tuned))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flickr8k", type=Path, default=Path("../shared/data/flickr8k"))
    parser.add_argument("--out", type=Path, default=Path("runs/sizes"))
    parser.add_argument("--base", type=Path, help="default: the shipped model")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--styles", nargs="+", choices=STYLES, default=list(STYLES))
    parser.add_argument("--report", default="sizes.json", help="file name of the report in --out")
    parser.add_argument("--warm-only", action="store_true", help="build the CSVs, cache features")
    parser.add_argument(
        "--tunes",
        nargs="+",
        choices=TUNES,
        default=list(TUNES),
        help="`photocap train --tune` of the runs: 'words' (the default) and 'all' (every decoder "
        "weight, the baseline of its speed)",
    )
    parser.add_argument("--train-args", default="", help="extra `photocap train` options")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="OMP_NUM_THREADS of the training runs (0: torch's default, one per core); on a "
        "machine loaded by other work, 1 avoids threads spinning against each other",
    )
    args = parser.parse_args()

    from photocap.paths import shipped_model_path

    base = args.base or shipped_model_path()
    images = args.flickr8k / "images"
    cache = args.out / "cache"
    plan = build(args.flickr8k, args.out, args.sizes)
    count = warm(args.out, images, base, cache)
    print(f"features of {count} photos cached in {cache}", file=sys.stderr)
    if args.warm_only:
        return
    saved = args.out / args.report
    report = json.loads(saved.read_text()) if saved.exists() else {}
    report.setdefault("runs", {})
    report.setdefault("base", {})
    report["cpu_cores"] = os.cpu_count()
    report["torch_threads"] = __import__("torch").get_num_threads()
    for style in args.styles:
        groups = ("style", "others") if style == "pupper" else ("style",)
        report["base"][style] = {
            g: score(base, args.out / style / f"heldout-{g}.csv", images, cache, style)
            for g in groups
        }
        for size in args.sizes:
            for tune in args.tunes:
                model = args.out / style / f"model-{size}-{tune}.safetensors"
                model.unlink(missing_ok=True)
                run = train(
                    Path(plan[style][size]),
                    images,
                    model,
                    cache,
                    ["--base", str(base), "--tune", tune, *args.train_args.split()],
                    args.threads,
                )
                run["uptime"] = subprocess.run(
                    ["uptime"], capture_output=True, text=True
                ).stdout.strip()
                if model.exists():
                    run["tuned"] = {
                        g: score(model, args.out / style / f"heldout-{g}.csv", images, cache, style)
                        for g in groups
                    }
                report["runs"].setdefault(style, {}).setdefault(str(size), {})[tune] = run
                saved.write_text(json.dumps(report, ensure_ascii=False, indent=2))
                print(
                    f"{style} {size} --tune {tune}: {run['seconds']} s", file=sys.stderr, flush=True
                )
    saved.write_text(json.dumps(report, ensure_ascii=False, indent=2))
    print(table(report))


if __name__ == "__main__":
    main()
