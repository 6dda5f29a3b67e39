"""A photo library indexed for real (tiny model) and `photocap review` running in a subprocess,
for the review page's API, security and browser tests."""

from __future__ import annotations

import json
import os
import select
import signal
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cli_helpers import photocap, subprocess_env
from metadata_helpers import EXIFTOOL, exiftool  # noqa: F401 - the tests import them from here
from photo_helpers import exif_orientation
from PIL import Image
from skimage import data

HOSTILE = '"><img src=x onerror="window.pwned=1"><script>window.pwned=2</script> & <b>bold</b>'


def exif_fields(path: Path) -> dict[str, str]:
    """The caption fields and photocap's provenance as ExifTool reads them."""
    out = exiftool(
        "-j",
        "-G1",
        "-XMP-iptcCore:AltTextAccessibility",
        "-XMP-dc:Description",
        "-IFD0:ImageDescription",
        "-XMP-photocap:all",
        path,
    )
    return {k: str(v) for k, v in json.loads(out)[0].items() if k != "SourceFile"}


def build_library(root: Path, tiny_model: Path) -> tuple[Path, Path]:
    """Photos of every kind the page must handle, indexed by the tiny model: (library, db)."""
    library = root / "library"
    (library / "trip").mkdir(parents=True)
    for name in ("chelsea", "astronaut", "camera", "page", "clock", "moon"):
        Image.fromarray(getattr(data, name)()).convert("RGB").save(library / f"{name}.jpg")
    Image.fromarray(data.rocket()).save(library / "rocket.png")  # not embeddable: a sidecar
    Image.fromarray(data.horse()).convert("RGB").save(library / "trip" / "horse.jpg")
    # 600 x 400 pixels, shown rotated (EXIF Orientation 6): portrait on screen
    rotated = Image.fromarray(data.coffee())
    rotated.save(library / "rotated.jpg", exif=exif_orientation(6))
    Image.fromarray(data.coins()).convert("RGB").save(library / "hostile.jpg")
    exiftool(
        "-q",
        "-overwrite_original",
        f"-XMP-iptcCore:AltTextAccessibility={HOSTILE}",
        f"-XMP-dc:Description={HOSTILE}",
        library / "hostile.jpg",
    )
    Image.fromarray(data.immunohistochemistry()).save(library / "readonly.jpg")
    db = root / "index.db"
    args = ("--model", tiny_model, "--workers", "0", "--min-confidence", "0")  # all written
    done = photocap("index", library, "--db", db, *args)
    assert done.returncode == 0, done.stderr
    os.chmod(library / "readonly.jpg", 0o444)
    with sqlite3.connect(db) as conn:  # the confidence gate's column, as `index` fills it
        conn.execute("UPDATE photos SET held_back = 1 WHERE path LIKE '%/moon.jpg'")
        conn.execute("UPDATE photos SET confidence = 0.05 WHERE path LIKE '%/readonly.jpg'")
    return library, db


@dataclass
class Server:
    proc: subprocess.Popen
    url: str  # as printed, with ?token=
    base: str  # http://127.0.0.1:PORT
    port: int
    token: str
    cache: Path  # $XDG_CACHE_HOME of the server

    def request(
        self,
        method: str,
        path: str,
        *,
        body=None,
        token: str | None = "header",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of one request; `token`: "header", None or a literal header."""
        sent = dict(headers or {})
        if token == "header":
            sent["Authorization"] = f"Bearer {self.token}"
        data_bytes = None
        if body is not None:
            data_bytes = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.base + path, data=data_bytes, method=method, headers=sent)
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(req, timeout=60) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def json(self, method: str, path: str, **kwargs):
        status, _, body = self.request(method, path, **kwargs)
        return status, json.loads(body)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def start_review(db: Path, cache: Path, *args: str) -> Server:
    """`photocap review --no-browser --port 0` in a subprocess; its URL read from stdout."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "photocap", "review", "--db", str(db), "--no-browser", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(XDG_CACHE_HOME=str(cache)),
    )
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    if not ready:
        proc.kill()
        raise AssertionError("photocap review printed no URL within 60 s")
    url = proc.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        raise AssertionError(f"not a URL: {url!r}; stderr: {proc.stderr.read()}")
    base, _, token = url.partition("/?token=")
    return Server(proc, url, base, int(base.rsplit(":", 1)[1]), token, cache)


def photo_id(server: Server, name: str) -> int:
    status, page = server.json("GET", "/api/photos?limit=200&sort=path")
    assert status == 200, page
    return next(p["id"] for p in page["photos"] if p["name"] == name)
