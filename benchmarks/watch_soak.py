"""`photocap watch` over a long run: memory, throughput, and every photo's final state.

Starts the real daemon (`python -m photocap watch --json`, the shipped model unless --model) on a
temporary folder of 20 subfolders, then makes --events file operations over --minutes, at an even
pace, chosen at random (seeded): photos created (written and closed, like a copy), renamed (within
or across folders, their sidecar with them), deleted, and captions written into Lightroom-style
`<name>.xmp` sidecars, as a person's photo manager does. Meanwhile the daemon's memory (PSS from
/proc/PID/smaps_rollup, decoding workers included) is sampled every 0.5 s.

Once the operations are done and the daemon is idle, every photo is checked against the folder:
each photo present has exactly one index row at its path with a caption (the person's when it has
a sidecar), no row is left for a photo deleted or renamed away, and no photo was captioned by the
model more than once under any of its names.

    .venv/bin/python benchmarks/watch_soak.py [--events 20000] [--minutes 10] [--model PATH]

Figures: PSS after the start (model loaded, caught up), peak and final; operations per second
made and handled (all operations over the time until the daemon had handled the last of them).
Exits 1 when a photo's final state is wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from photocap.store.index import open_index  # noqa: E402

XMP = """<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{}</rdf:li></rdf:Alt></dc:description>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""
MIX = {"create": 45, "rename": 25, "delete": 15, "sidecar": 15}  # weights of the operations


def make_photos(folder: Path, n: int, seed: int) -> list[Path]:
    """`n` distinct small JPEGs: crops of scikit-image's sample photos at random places."""
    import numpy as np
    from PIL import Image
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = ("chelsea", "astronaut", "coffee", "rocket", "cat", "immunohistochemistry")
    sources = [Image.fromarray(getattr(data, name)()).convert("RGB") for name in names]
    out = []
    for i in range(n):
        image = sources[i % len(sources)]
        w, h = int(rng.integers(200, 320)), int(rng.integers(150, 240))
        x, y = int(rng.integers(0, image.width - w)), int(rng.integers(0, image.height - h))
        path = folder / f"pool{i:05d}.jpg"
        image.crop((x, y, x + w, y + h)).save(path, quality=85)
        out.append(path)
    return out


def own_pss_kb(pid: int) -> int:
    """PSS of `pid` alone, in kB (0 when gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid: int) -> int:
    """PSS of `pid` and its descendants (decoding workers), in kB (0 when gone)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return own_pss_kb(pid) + sum(pss_kb(int(child)) for child in children)


class Daemon:
    def __init__(self, command: list[str], env: dict[str, str], stderr: Path):
        with open(stderr, "w") as err:
            self.proc = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=err, text=True, env=env
            )
        self.events: list[dict] = []
        self.last = time.monotonic()
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        self.memory: list[tuple[float, int, int]] = []  # (time, daemon's PSS, with workers)
        threading.Thread(target=self._sample, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self.lock:
                self.events.append(json.loads(line))
                self.last = time.monotonic()

    def _sample(self) -> None:
        while self.proc.poll() is None:
            pid = self.proc.pid
            self.memory.append((time.monotonic(), own_pss_kb(pid), pss_kb(pid)))
            time.sleep(0.5)

    def of(self, kind: str) -> list[dict]:
        with self.lock:
            return [e for e in self.events if e["event"] == kind]

    def wait_for(self, kind: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if found := self.of(kind):
                return found[0]
            if self.proc.poll() is not None:
                sys.exit(f"the daemon exited ({self.proc.returncode}) before {kind}")
            time.sleep(0.1)
        sys.exit(f"timed out waiting for {kind}")


class Library:
    """The folder as the benchmark made it: each photo's current name, its names so far, and the
    caption a person wrote into its sidecar, if any."""

    def __init__(self, root: Path, pool: list[Path], rng: random.Random):
        self.root, self.pool, self.rng = root, pool, rng
        self.folders = [root / f"d{i:02d}" for i in range(20)]
        for folder in self.folders:
            folder.mkdir(parents=True)
        self.current: dict[int, Path] = {}  # photo -> its path now
        self.names: dict[int, list[Path]] = {}
        self.human: dict[int, str] = {}
        self.made = Counter()
        self.serial = 0

    def _name(self, photo: int) -> Path:
        self.serial += 1
        return self.rng.choice(self.folders) / f"IMG_{photo:05d}_{self.serial:06d}.jpg"

    def do(self, op: str) -> None:
        if op != "create" and not self.current:
            op = "create"
        if op == "create" and len(self.names) >= len(self.pool):
            op = "rename"
        if op == "create":
            photo = len(self.names)
            path = self._name(photo)
            shutil.copyfile(self.pool[photo], path)
            self.current[photo], self.names[photo] = path, [path]
        elif op == "rename":
            photo = self.rng.choice(list(self.current))
            old, new = self.current[photo], self._name(photo)
            os.rename(old, new)
            if photo in self.human:
                os.rename(old.with_suffix(".xmp"), new.with_suffix(".xmp"))
            self.current[photo] = new
            self.names[photo].append(new)
        elif op == "delete":
            photo = self.rng.choice(list(self.current))
            path = self.current.pop(photo)
            path.unlink()
            if self.human.pop(photo, None) is not None:
                path.with_suffix(".xmp").unlink()
        else:
            photo = self.rng.choice(list(self.current))
            text = f"Soak caption number {self.serial} by a person"
            self.serial += 1
            sidecar = self.current[photo].with_suffix(".xmp")
            part = sidecar.with_name(f".{sidecar.name}.part")
            part.write_text(XMP.format(text), encoding="utf-8")
            part.rename(sidecar)  # written beside, renamed into place
            self.human[photo] = text
        self.made[op] += 1


def check(library: Library, db: str, daemon: Daemon) -> list[str]:
    """What is wrong with the final state (empty: all right)."""
    problems = []
    with open_index(db) as index:
        rows = index.lookup(list(library.current.values()))
        stale = set(index.paths()) - {str(p) for p in library.current.values()}
    model = Counter(e["path"] for e in daemon.of("captioned"))
    for photo, path in library.current.items():
        row = rows.get(str(path))
        if row is None or not row.caption:
            problems.append(f"{path}: no row with a caption")
        elif photo in library.human and (row.caption, row.source) != (
            library.human[photo],
            "human",
        ):
            problems.append(f"{path}: not the person's caption ({row.source}: {row.caption!r})")
    for names in library.names.values():
        if (times := sum(model[str(p)] for p in names)) > 1:
            problems.append(f"{names[-1]}: captioned {times} times")
    problems += [f"{path}: row left for a photo that is not there" for path in sorted(stale)]
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="file operations to make")
    parser.add_argument("--minutes", type=float, default=10.0, help="over this long")
    parser.add_argument("--model", type=Path, help="model file [default: the shipped one]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--settle-timeout", type=float, default=1800.0, metavar="SECONDS")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    base = Path(tempfile.mkdtemp(prefix="photocap-soak-"))
    creates = int(args.events * MIX["create"] / sum(MIX.values()) * 1.1) + 10
    started = time.monotonic()
    pool = make_photos(base / "pool", creates, args.seed)
    print(f"{len(pool)} photos made in {time.monotonic() - started:.0f} s", file=sys.stderr)
    root, db = base / "photos", base / "index.db"
    library = Library(root, pool, rng)

    command = [sys.executable, "-m", "photocap", "watch", str(root), "--db", str(db), "--json"]
    command += ["--state-file", str(base / "state.json")]
    if args.model:
        command += ["--model", str(args.model)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "PHOTOCAP_HOME": str(base / "home")}
    daemon = Daemon(command, env, base / "daemon.stderr")
    daemon.wait_for("caught-up", 600)
    time.sleep(2.0)
    pss_start = daemon.memory[-1][1:]

    ops = rng.choices(list(MIX), weights=list(MIX.values()), k=args.events)
    pace = args.minutes * 60 / args.events
    t0 = time.monotonic()
    for i, op in enumerate(ops):
        library.do(op)
        if (delay := t0 + (i + 1) * pace - time.monotonic()) > 0:
            time.sleep(delay)
        if i % max(1, args.events // 10) == 0:
            _, own, total = daemon.memory[-1]
            print(
                f"{i} operations, PSS {own >> 10} MiB ({total >> 10} with workers)", file=sys.stderr
            )
    made_s = time.monotonic() - t0

    # idle: the state file says nothing is pending (the batch in hand counted) nor being caught
    # up, and no event came for 10 s (the state file is rewritten at least every 5 s meanwhile)
    state = base / "state.json"
    deadline = time.monotonic() + args.settle_timeout
    while time.monotonic() < deadline:
        try:
            data = json.loads(state.read_text())
        except (OSError, ValueError):
            data = {}
        idle_now = data.get("pending") == 0 and not data.get("catching_up")
        if idle_now and time.monotonic() - daemon.last > 10:
            break
        time.sleep(1.0)
    handled_s, idle = daemon.last - t0, time.monotonic()
    problems = check(library, str(db), daemon)
    daemon.proc.send_signal(signal.SIGTERM)
    daemon.proc.wait(120)

    samples = [m for m in daemon.memory if t0 <= m[0] <= idle]
    during = [m[1:] for m in samples]
    span = (idle - t0) / 4  # peaks per quarter of the run: flat memory keeps them level
    quarters = [
        [m[1:] for m in samples if t0 + q * span <= m[0] < t0 + (q + 1) * span] or [(0, 0)]
        for q in range(4)
    ]
    kinds = Counter(e["event"] for e in daemon.events)
    print(f"operations:   {args.events} over {made_s:.0f} s ({dict(library.made)})")
    print(f"made:         {args.events / made_s:.1f} operations/s")
    print(
        f"handled:      {args.events / handled_s:.1f} operations/s (last event at {handled_s:.0f} s)"
    )
    print(
        f"daemon:       {kinds['captioned']} captioned, {kinds['human']} human, "
        f"{kinds['moved']} moved, {kinds['deleted']} deleted, {kinds['batch']} batches, "
        f"{kinds['rescan']} rescans, {kinds['failed']} failed"
    )
    for i, what in enumerate(("daemon", "with workers")):
        peaks = ", ".join(str(max(m[i] for m in q) >> 10) for q in quarters)
        print(
            f"PSS (MiB), {what + ':':13} start {pss_start[i] >> 10}, "
            f"peak {max(m[i] for m in during) >> 10} (by quarter: {peaks}), "
            f"final {during[-1][i] >> 10}"
        )
    print(f"final state:  {len(library.current)} photos, {len(problems)} problems")
    for problem in problems[:20]:
        print(f"  {problem}")
    if args.keep:
        with open(base / "events.jsonl", "w") as f:
            f.writelines(json.dumps(e) + "\n" for e in daemon.events)
        print(f"kept: {base} (the daemon's events in events.jsonl)")
    else:
        shutil.rmtree(base, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
