"""Every script in benchmarks/ still runs: each one, as a real subprocess, at its smallest size.

A smoke run, not a measurement: tiny sizes, one repeat, and the figures are not held to their bars
(`--smoke` where a script checks a bar or needs more than its size options to run small). A script
fails the test when it exits non-zero. The Flickr8k-based runs get a small folder in Flickr8k's
layout (8 photos a split, 8 ImageNet samples) made from ../shared, and skip where it is absent; the
PostgreSQL run starts its own server as the tests do (tests/postgres_server.py); the Ray run starts
a local cluster (as tests/test_ray_index.py does). A script in benchmarks/ without an entry in
SMOKE fails `test_every_benchmark_has_a_smoke_run`, so a new benchmark cannot be forgotten.
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FLICKR8K = Path(os.environ.get("PHOTOCAP_FLICKR8K", REPO.parent / "shared" / "data" / "flickr8k"))
BENCHMARKS = REPO / "benchmarks"
SHIPPED = str(REPO / "weights" / "photocap-lite2-flickr8k.safetensors")
PHOTOS_A_SPLIT = 8


@dataclass(frozen=True)
class Smoke:
    """One smoke run of `script`: its arguments ({data}: the small Flickr8k-shaped folder beside
    {samples}, the small ImageNet samples; {captions}: Flickr8k's captions.txt; {tmp}: a folder
    of the test's own; {tiny_model}: the tests' tiny model) and what it needs."""

    script: str
    args: tuple[str, ...] = ()
    needs: frozenset[str] = field(default_factory=frozenset)  # shared, java, postgres, ray
    xfail: str | None = None


def smoke(script: str, args: str = "", needs: str = "", xfail: str | None = None) -> Smoke:
    return Smoke(script, tuple(shlex.split(args)), frozenset(needs.split()), xfail)


SMOKE = [
    smoke("caption_metrics_speed", "--flickr8k {data} --images 8", "shared"),
    smoke("captioner_throughput", "--batch 2 --images 2"),
    smoke("confidence_gate", "--smoke --data {data}", "shared java"),
    smoke("decode_draft", "--count 1 --rounds 1"),
    smoke("degenerate_photos", "--shared {shared}", "shared"),
    smoke("everyday_objects", f"--model {SHIPPED} --samples {{samples}} --show 2", "shared"),
    # The fine-tuning runs train the tests' tiny model (ResNet-18, a small decoder): the shipped
    # model's 150 steps take over a minute. One size, one style, one draw, 10 held-out photos.
    smoke(
        "finetune_sizes",
        "--flickr8k {flickr8k} --out {tmp}/sizes --base {tiny_model} --sizes 50 --styles prefix"
        " --draws 0 --captions 3 --control 0 --held-out 10 --threads 1"
        " --train-args '--epochs 1 --min-steps 1'",
        "shared",
    ),
    smoke(
        "finetune_speed",
        "--flickr8k {flickr8k} --out {tmp}/speed --base {tiny_model} --epochs 1 --runs warm"
        " --photos 20 --train-args '--min-steps 1'",
        "shared",
    ),
    smoke(
        "hallucination",
        "--references {data}/captions.txt --images {data}/images --split {data}/splits/test.txt"
        " --cache {tmp}/cache",
        "shared",
    ),
    smoke("index_throughput", "--count 2 --repeat 1"),
    smoke(
        "label_accuracy",
        "--samples {samples} --flickr8k {data} --cache {tmp}/labels.pt --caption-photos 2",
        "shared",
    ),
    smoke("label_cost", "--smoke --photos 2 --repeat 1 --flickr8k {data}", "shared"),
    smoke("label_search", "--smoke --flickr8k {data} --db {tmp}/labels.db", "shared"),
    smoke("postgres_search", "--rows 300 --queries 8", "postgres"),
    smoke("raw_throughput", "--count 1 --rounds 1 --width 800 --height 600"),
    # A local Ray cluster takes 15-20 s to start: the longest of the small runs.
    smoke("ray_scaling", "--count 2 --workers 1", "ray"),
    smoke("repeated_phrases", "count {tmp}/report.json"),
    smoke("repeated_phrases", "tune --smoke --flickr8k {data}", "shared java"),
    smoke("rerun_unchanged", "--count 100 --repeat 1"),
    smoke("review_api", "--rows 1000 --repeat 1"),  # a deep page (at 90%) needs 600+ rows
    smoke(
        "scale",
        "--smoke --sizes 400 800 --rerun-files 60 --queries 8 --repeat 1 --captions {captions}",
        "shared postgres",
    ),
    smoke(
        "search_latency",
        "--smoke --captions {captions} --rows 300 --queries 8 --baseline-queries 4 --cli-runs 1",
        "shared",
    ),
    smoke(
        "startup",
        "--smoke --runs 1 --rows 300 --captions {captions} --db {tmp}/startup.db",
        "shared",
    ),
    smoke("watch_latency", "--smoke --photos 1 --megapixels 0.3 --gap 0"),
    smoke("watch_soak", "--events 12 --minutes 0.05"),
]


def benchmark_scripts() -> set[str]:
    return {p.stem for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_")}


def test_every_benchmark_has_a_smoke_run():
    missing = benchmark_scripts() - {s.script for s in SMOKE}
    assert not missing, f"benchmarks without a smoke run in {Path(__file__).name}: {missing}"
    gone = {s.script for s in SMOKE} - benchmark_scripts()
    assert not gone, f"smoke runs of scripts no longer in benchmarks/: {gone}"


@pytest.fixture(scope="module")
def small_data(tmp_path_factory) -> Path:
    """A folder like ../shared/data: flickr8k/ (8 photos of each split, their captions) and
    imagenet-samples/ (8 photos), the photos linked, not copied."""
    if not (FLICKR8K / "captions.txt").exists():
        pytest.skip(f"Flickr8k data not found at {FLICKR8K} (../shared is only beside CI and dev)")
    samples = FLICKR8K.parent / "imagenet-samples"
    if not (samples / "labels.csv").exists():
        pytest.skip(f"ImageNet samples not found at {samples}")
    root = tmp_path_factory.mktemp("shared-small")
    flickr = root / "flickr8k"
    (flickr / "splits").mkdir(parents=True)
    (flickr / "images").mkdir()
    names: set[str] = set()
    for split in ("train", "dev", "test"):
        chosen = (FLICKR8K / "splits" / f"{split}.txt").read_text().split()[:PHOTOS_A_SPLIT]
        (flickr / "splits" / f"{split}.txt").write_text("\n".join(chosen) + "\n")
        names |= set(chosen)
    with open(FLICKR8K / "captions.txt", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["image"] in names]
    with open(flickr / "captions.txt", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, ["image", "caption"])
        writer.writeheader()
        writer.writerows(rows)
    for name in names:
        (flickr / "images" / name).symlink_to(FLICKR8K / "images" / name)
    small = root / "imagenet-samples"
    (small / "images").mkdir(parents=True)
    with open(samples / "labels.csv", newline="") as f:
        reader = csv.DictReader(f)
        labels = [row for _, row in zip(range(PHOTOS_A_SPLIT), reader, strict=False)]
    with open(small / "labels.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["image", "wnid"])
        writer.writeheader()
        writer.writerows(labels)
    for row in labels:
        (small / "images" / row["image"]).symlink_to(samples / "images" / row["image"])
    return root


def check_needs(needs: frozenset[str]) -> None:
    if "java" in needs and shutil.which("java") is None:
        pytest.skip("needs Java for the COCO caption tools (Debian: default-jre-headless)")
    if "postgres" in needs:
        from postgres_server import find_bin_dir

        if find_bin_dir() is None:
            pytest.skip("PostgreSQL's initdb/pg_ctl not found (Debian: apt-get install postgresql)")
        pytest.importorskip("psycopg", reason="psycopg not installed (pip install '.[postgres]')")
    if "ray" in needs:
        pytest.importorskip("ray", reason="Ray is not installed (pip install 'photocap[ray]')")


def evaluate_report(path: Path) -> None:
    """A report in `photocap evaluate --out`'s shape, with one caption repeating a trigram."""
    report = {
        "captions": {
            "a.jpg": "A dog runs on the beach.",
            "b.jpg": "A man in a red shirt is standing in a red shirt.",
        },
        "scores": {"BLEU-4": 0.2, "METEOR": 0.2, "CIDEr": 0.5},
    }
    path.write_text(json.dumps(report))


@pytest.mark.slow
@pytest.mark.parametrize(
    "run",
    [
        pytest.param(s, marks=pytest.mark.xfail(strict=False, reason=s.xfail) if s.xfail else ())
        for s in SMOKE
    ],
    ids=[
        " ".join([s.script, *s.args[:1]]) if s.script == "repeated_phrases" else s.script
        for s in SMOKE
    ],
)
def test_benchmark_smoke(run: Smoke, request, tmp_path: Path):
    check_needs(run.needs)
    places = {"tmp": str(tmp_path)}
    if "shared" in run.needs:
        shared = request.getfixturevalue("small_data")
        places |= {
            "shared": str(shared),
            "data": str(shared / "flickr8k"),
            "samples": str(shared / "imagenet-samples"),
            "flickr8k": str(FLICKR8K),
            "captions": str(FLICKR8K / "captions.txt"),
        }
    if any("{tiny_model}" in a for a in run.args):
        places["tiny_model"] = str(request.getfixturevalue("tiny_model"))
    if run.script == "repeated_phrases" and run.args[0] == "count":
        evaluate_report(tmp_path / "report.json")
    args = [a.format(**places) for a in run.args]
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / f"{run.script}.py"), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (
        f"benchmarks/{run.script}.py {' '.join(args)} exited {done.returncode}\n"
        f"--- stdout (end)\n{done.stdout[-3000:]}\n--- stderr (end)\n{done.stderr[-3000:]}"
    )
