"""`photocap index` against a naive pipeline on 12-megapixel JPEGs, in one run, on CPU.

Photos: COUNT JPEGs of 4032×3024 (12.2 MP, quality 90), each a mosaic of 12×9 real photos from
Flickr8k's test split (../shared), or of scikit-image's photos where Flickr8k is absent.

Both pipelines do the same job from the same files with the same model, each in a fresh process
(start-up and model loading included), each on its own copy of the photos:
  naive     one photo at a time: full-size decode (Image.open + load), EXIF transpose, the
            model's own preprocessing, encoder + greedy decoding on a batch of one, caption
            written into the photo (photocap.metadata), one index row per photo
  photocap  `python -m photocap index DIR --device cpu` with its defaults: JPEG draft decoding in
            DataLoader workers, batches, beam search (beam 3) steered by the object evidence,
            label lines for held-back photos, metadata, index rows per batch
  unsteered the same with `--no-evidence --no-label-alt`: photocap before its object evidence
            (`--evidence-baseline` adds it; the bar: photocap within 5% of its photos/s)
Reported: photos/s end to end (process start to exit: the figure that counts) and in the
captioning loop (from the loaded model to the last photo stored; photocap's workers decode while
the model loads, so its loop figure includes that head start), peak memory
(PSS and RSS summed over the process and its workers, sampled every 0.5 s: reading
smaps_rollup more often slowed the 4-process photocap run by 30%), CPU load, the machine.

Each pipeline runs `--repeat` times (default 3), the two alternating so that a noisy spell on a
shared machine hits both alike; the table shows each one's run of median wall time, and every
run's wall time below it.

Run (unniced, on an otherwise idle machine):
  env PYTHONPATH=. .venv/bin/python benchmarks/index_throughput.py [--count 100] [--repeat 3]
      [--model PATH] [--photos DIR (reuse/keep the built photos)] [--workers N] [--batch-size N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
FLICKR8K = REPO.parent / "shared" / "data" / "flickr8k"
TILE, COLS, ROWS = 336, 12, 9  # 4032 × 3024


# ---------------------------------------------------------------- photos


def tiles() -> list[np.ndarray]:
    split = FLICKR8K / "splits" / "test.txt"
    if split.exists():
        names = split.read_text().split()
        return [np.asarray(Image.open(FLICKR8K / "images" / n).convert("RGB")) for n in names]
    from skimage import data

    photos = [data.chelsea(), data.astronaut(), data.coffee(), data.rocket()]
    rng = np.random.default_rng(0)
    out = []
    for i in range(400):
        p = photos[i % 4]
        top, left = int(rng.integers(0, p.shape[0] - 150)), int(rng.integers(0, p.shape[1] - 150))
        out.append(p[top : top + 150, left : left + 150])
    return out


def build(folder: Path, count: int) -> list[Path]:
    """12-MP mosaics of real photos; reused when the folder already holds them."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = [folder / f"mosaic_{i:03d}.jpg" for i in range(count)]
    if all(p.exists() for p in wanted):
        return wanted
    pool = tiles()
    rng = np.random.default_rng(12)
    for path in wanted:
        if path.exists():
            continue
        canvas = Image.new("RGB", (TILE * COLS, TILE * ROWS))
        for k, pick in enumerate(rng.choice(len(pool), COLS * ROWS, replace=False)):
            tile = Image.fromarray(pool[pick]).resize((TILE, TILE), Image.Resampling.BICUBIC)
            canvas.paste(tile, ((k % COLS) * TILE, (k // COLS) * TILE))
        canvas.save(path, quality=90)
    return wanted


# ---------------------------------------------------------------- measuring a process tree


def tree_memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of `pid` and all its descendants, bytes, from /proc. PSS splits the pages that
    forked DataLoader workers share with their parent, so it does not count them twice."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    rss = pss = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        stack += children.get(p, [])
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
        except OSError:
            continue
    return rss, pss


def measure(command: list[str], env: dict[str, str]) -> dict:
    """Run `command`; wall time, peak tree RSS, CPU time of it and its children, its stdout."""
    before = os.times()
    load = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    peak_rss = peak_pss = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak_rss, peak_pss
        while not stop.is_set():
            rss, pss = tree_memory(proc.pid)
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    after = os.times()
    if proc.returncode != 0:
        raise SystemExit(
            f"{command[:4]} failed ({proc.returncode}):\n{out.decode()}\n{err.decode()}"
        )
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return {
        "seconds": seconds,
        "peak_rss_mb": peak_rss / 2**20,
        "peak_pss_mb": peak_pss / 2**20,
        "cpu_seconds": cpu,
        "load_before": load,
        "load_after": os.getloadavg()[0],
        "stdout": out.decode(),
    }


# ---------------------------------------------------------------- the naive pipeline


def naive(folder: Path, db: Path, model: str) -> None:
    """One photo at a time, full-size decode, greedy; writes and indexes like photocap."""
    import hashlib

    import torch
    from PIL import ImageOps

    from photocap.captioner import load_captioner
    from photocap.metadata import write_caption
    from photocap.model.beam import DecodeOptions
    from photocap.model.transforms import to_tensor
    from photocap.store.index import PhotoRecord, open_index

    captioner = load_captioner(model, "cpu")
    greedy = DecodeOptions(beam_size=1)
    index = open_index(db)
    started, count = time.perf_counter(), 0
    for path in sorted(folder.iterdir()):
        with Image.open(path) as image:
            image.load()  # the full 12 megapixels
            photo = ImageOps.exif_transpose(image).convert("RGB")
        tensor = to_tensor(photo, captioner.spec, via=captioner.info.data_square)
        caption = captioner.caption_tensors(tensor[None], greedy)[0]  # batch of one
        write_caption(path, caption.text, model_id=captioner.model_id)
        st = path.stat()
        index.upsert(
            [
                PhotoRecord(
                    str(path),
                    st.st_size,
                    st.st_mtime_ns,
                    sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                    width=photo.width,
                    height=photo.height,
                    caption=caption.text,
                    source="model",
                    model_id=captioner.model_id,
                    score=caption.score,
                )
            ]
        )
        count += 1
    index.close()
    loop = time.perf_counter() - started
    print(
        json.dumps({"captioned": count, "loop_seconds": loop, "threads": torch.get_num_threads()})
    )


# ---------------------------------------------------------------- main


def run_once(name: str, folder: Path, db: Path, model: str, args: argparse.Namespace) -> dict:
    """One timed run of `name` over the photos in `folder` (changed by it)."""
    if name == "naive":
        command = [sys.executable, __file__, "--naive-run", str(folder), str(db), model]
    else:
        command = [sys.executable, "-m", "photocap", "index", str(folder), "--db", str(db)]
        command += ["--model", model, "--device", "cpu", "--json"]
        if name == "unsteered":
            command += ["--no-evidence", "--no-label-alt"]
        if args.workers is not None:
            command += ["--workers", str(args.workers)]
        if args.batch_size is not None:
            command += ["--batch-size", str(args.batch_size)]
    result = measure(command, {**os.environ, "PYTHONPATH": str(REPO)})
    report = json.loads(result.pop("stdout"))
    count = len(list(folder.glob("*.jpg")))
    done = report["captioned"] + report.get("held_back", 0)  # held back: captioned, not written
    assert done == count and not report.get("failed"), report
    result["loop_seconds"] = report["loop_seconds" if name == "naive" else "caption_seconds"]
    result["photos_per_s"] = count / result["seconds"]
    result["loop_photos_per_s"] = count / result["loop_seconds"]
    return result


def _median_run(runs: list[dict]) -> dict:
    """The run of median wall time, with every run's wall time beside it."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    return {**ordered[(len(ordered) - 1) // 2], "all_seconds": [r["seconds"] for r in runs]}


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="12-MP photos")
    parser.add_argument("--model", default=None, help="model file (default: the shipped one)")
    parser.add_argument("--photos", type=Path, help="folder for the built photos (kept, reused)")
    parser.add_argument("--workers", type=int, help="photocap --workers (default: its own)")
    parser.add_argument("--batch-size", type=int, help="photocap --batch-size (default: its own)")
    parser.add_argument("--skip-naive", action="store_true", help="time photocap only")
    parser.add_argument(
        "--evidence-baseline",
        action="store_true",
        help="also time photocap --no-evidence --no-label-alt (decoding before object evidence)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each (alternating); the median is reported"
    )
    parser.add_argument(
        "--naive-run", nargs=3, metavar=("DIR", "DB", "MODEL"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.naive_run:
        naive(Path(args.naive_run[0]), Path(args.naive_run[1]), args.naive_run[2])
        return

    from photocap.paths import shipped_model_path

    model = args.model or str(shipped_model_path())
    with tempfile.TemporaryDirectory(prefix="photocap-throughput-") as tmp:
        tmp = Path(tmp)
        source = args.photos or tmp / "photos"
        started = time.perf_counter()
        photos = build(source, args.count)
        size_mb = sum(p.stat().st_size for p in photos) / 2**20
        print(
            f"{len(photos)} photos of 4032×3024 ({size_mb / len(photos):.1f} MB each) ready in "
            f"{time.perf_counter() - started:.0f} s; model {model}"
        )

        names = ["photocap"] if args.skip_naive else ["photocap", "naive"]
        if args.evidence_baseline:
            names.append("unsteered")
        runs: dict[str, list[dict]] = {name: [] for name in names}
        for repeat in range(args.repeat):  # alternating, so a noisy spell hits both alike
            for name in names:
                folder = tmp / f"{name}-{repeat}"
                folder.mkdir()
                for p in photos:
                    shutil.copy(p, folder / p.name)
                runs[name].append(run_once(name, folder, tmp / f"{name}-{repeat}.db", model, args))
                shutil.rmtree(folder)
        results = {name: _median_run(r) for name, r in runs.items()}

    print(
        f"machine: {_cpu_name()}, {os.cpu_count()} cores "
        f"(affinity {len(os.sched_getaffinity(0))}), Python {platform.python_version()}"
    )
    print(
        f"{'':10} {'photos/s':>9} {'loop p/s':>9} {'wall s':>8} {'CPU s':>7} "
        f"{'PSS MB':>7} {'RSS MB':>7} {'load':>11}"
    )
    for name, r in results.items():
        print(
            f"{name:10} {r['photos_per_s']:9.2f} {r['loop_photos_per_s']:9.2f} {r['seconds']:8.1f} "
            f"{r['cpu_seconds']:7.1f} {r['peak_pss_mb']:7.0f} {r['peak_rss_mb']:7.0f} "
            f"{r['load_before']:5.2f}→{r['load_after']:4.2f}"
        )
        walls = ", ".join(f"{x:.1f}" for x in r["all_seconds"])
        print(f"{'':10} runs: {walls} s")
    if "naive" in results:
        speedup = results["photocap"]["photos_per_s"] / results["naive"]["photos_per_s"]
        loop = results["photocap"]["loop_photos_per_s"] / results["naive"]["loop_photos_per_s"]
        print(f"speedup end to end {speedup:.2f}× (bar: ≥ 3×); captioning loop {loop:.2f}×")
    if "unsteered" in results:
        ratio = results["photocap"]["photos_per_s"] / results["unsteered"]["photos_per_s"]
        loop = results["photocap"]["loop_photos_per_s"] / results["unsteered"]["loop_photos_per_s"]
        print(f"with evidence / without: {ratio:.3f} end to end, {loop:.3f} loop (bar: ≥ 0.95)")
    print(json.dumps({"count": len(photos), "model": model, **results}, default=float))


if __name__ == "__main__":
    main()
