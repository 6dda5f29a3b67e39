"""`photocap review`: the server as users run it (a subprocess on a real index of real photos),
its JSON API, what a save writes into a photo (read back by ExifTool), and its security."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request

import pytest
from cli_helpers import photocap
from PIL import Image
from review_helpers import (
    EXIFTOOL,
    HOSTILE,
    exif_fields,
    photo_id,
    start_review,
)

from photocap.metadata import read_caption

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(EXIFTOOL is None, reason="needs ExifTool (libimage-exiftool-perl)"),
]


# ---------------------------------------------------------------- the command


def test_the_url_is_the_first_line_and_sigterm_exits_0(review_library, tmp_path):
    server = start_review(review_library[1], tmp_path / "cache")
    assert server.url.startswith("http://127.0.0.1:") and len(server.token) >= 40
    status, _, _ = server.request("GET", "/api/photos")
    assert status == 200
    assert server.stop() == 0
    again = start_review(review_library[1], tmp_path / "cache")
    assert again.stop() == 0
    assert again.token != server.token  # new every run


def test_a_missing_index_is_a_clear_error(tmp_path):
    done = photocap("review", "--db", tmp_path / "none.db", "--no-browser")
    assert done.returncode == 1
    assert "no index database found" in done.stderr and done.stdout == ""


# ---------------------------------------------------------------- security


@pytest.mark.parametrize(
    "path",
    ["/", "/api/photos", "/api/photos/1", "/thumbnails/1", "/static/review.js", "/nowhere"],
)
def test_no_token_or_a_wrong_one_is_refused(review_server, path):
    assert review_server.request("GET", path, token=None)[0] == 403
    wrong = {"Authorization": "Bearer " + "x" * len(review_server.token)}
    assert review_server.request("GET", path, token=None, headers=wrong)[0] == 403
    cookie = {"Cookie": f"photocap_review_{review_server.port}=wrong"}
    assert review_server.request("GET", path, token=None, headers=cookie)[0] == 403
    assert review_server.request("GET", f"{path}?token=wrong", token=None)[0] == 403


def test_hostile_requests_get_4xx_answers_not_500(review_server, review_library):
    """An id beyond 64 bits, JSON nested past the parser's depth and a 10 MB body: each a clear
    refusal (they answered 500 before); the photo is left as it was."""
    huge = "99999999999999999999"
    for method, path in (("GET", "/api/photos/"), ("GET", "/thumbnails/")):
        assert review_server.request(method, path + huge)[0] == 404
    status, reply = review_server.json("PATCH", f"/api/photos/{huge}", body={"caption": "x"})
    assert status == 404, reply
    pid = photo_id(review_server, "chelsea.jpg")
    before = (review_library[0] / "chelsea.jpg").read_bytes()
    auth = {"Authorization": f"Bearer {review_server.token}", "Content-Type": "application/json"}

    def patch(data: bytes) -> tuple[int, dict]:
        request = urllib.request.Request(
            f"{review_server.base}/api/photos/{pid}", data=data, method="PATCH", headers=auth
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    status, reply = patch(b"[" * 20_000 + b"]" * 20_000)  # 40 KB, nested 20,000 deep
    assert status == 400 and "not JSON" in reply["error"]
    # 10 MB announced: refused from the headers, before a byte of the body is read
    connection = http.client.HTTPConnection("127.0.0.1", review_server.port, timeout=60)
    connection.putrequest("PATCH", f"/api/photos/{pid}")
    for name, value in auth.items():
        connection.putheader(name, value)
    connection.putheader("Content-Length", str(10_000_000))
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 413 and "larger than" in json.loads(response.read())["error"]
    connection.close()
    assert (review_library[0] / "chelsea.jpg").read_bytes() == before


def test_the_url_token_becomes_a_strict_cookie_that_cannot_change_captions(
    review_server, review_library
):
    status, headers, _ = review_server.request("GET", f"/?token={review_server.token}", token=None)
    assert status == 303 and headers["location"] == "/"
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    jar = {"Cookie": cookie.split(";")[0]}
    status, _, body = review_server.request("GET", "/", token=None, headers=jar)
    assert status == 200 and b'name="photocap-token"' in body
    assert review_server.request("GET", "/api/photos", token=None, headers=jar)[0] == 200

    chelsea = review_library[0] / "chelsea.jpg"
    before = chelsea.read_bytes()
    pid = photo_id(review_server, "chelsea.jpg")
    status, _, body = review_server.request(
        "PATCH", f"/api/photos/{pid}", body={"caption": "Pwned."}, token=None, headers=jar
    )
    assert status == 403 and b"Authorization" in body
    assert chelsea.read_bytes() == before


def test_foreign_hosts_origins_and_cross_site_requests_are_refused(review_server, review_library):
    pid = photo_id(review_server, "chelsea.jpg")
    before = (review_library[0] / "chelsea.jpg").read_bytes()
    rebinding = {"Host": f"attacker.example:{review_server.port}"}
    assert review_server.request("GET", "/api/photos", headers=rebinding)[0] == 403
    assert review_server.request("GET", "/api/photos", headers={"Host": "127.0.0.1:1"})[0] == 403
    for headers in (
        {"Origin": "http://attacker.example"},
        {"Origin": f"http://127.0.0.1:{review_server.port}.attacker.example"},
        {"Sec-Fetch-Site": "cross-site"},
    ):
        status, _, _ = review_server.request(
            "PATCH", f"/api/photos/{pid}", body={"caption": "Pwned."}, headers=headers
        )
        assert status == 403, headers
    assert (review_library[0] / "chelsea.jpg").read_bytes() == before
    same = {
        "Origin": f"http://localhost:{review_server.port}",
        "Host": f"localhost:{review_server.port}",
    }
    assert review_server.request("GET", "/api/photos", headers=same)[0] == 200


@pytest.mark.parametrize(
    "path",
    [
        "/thumbnails/../../../../etc/passwd",
        "/thumbnails/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/thumbnails//etc/passwd",
        "/thumbnails/999999",
        "/thumbnails/-1",
        "/static/../../../../../etc/passwd",
        "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/static//etc/passwd",
        "/static/..%2f..%2fapp.py",
        "/api/photos/..%2f..%2fetc%2fpasswd",
        "/api/photos/%2fetc%2fpasswd",
        "/api/photos?under=/etc",
        "/api/photos?under=../../../etc",
    ],
)
def test_paths_and_ids_never_reach_a_file_outside_the_index(review_server, path):
    status, _, body = review_server.request("GET", path)
    assert b"root:" not in body and b"def create_app" not in body
    if "under=" in path:
        assert status == 200 and json.loads(body)["photos"] == []
    else:
        assert status in (400, 404), (path, status)


def test_responses_forbid_scripts_from_elsewhere_and_framing(review_server):
    _, headers, _ = review_server.request("GET", "/api/photos")
    policy = headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


# ---------------------------------------------------------------- the API


def test_pages_sort_lowest_confidence_first_and_filter(review_server, review_library):
    status, first = review_server.json("GET", "/api/photos?limit=3")
    assert status == 200 and (first["total"], first["total_exact"]) == (11, True)
    seen, cursor = [], None
    while True:
        query = "/api/photos?limit=3" + (f"&after={cursor}" if cursor else "")
        status, page = review_server.json("GET", query)
        assert status == 200
        seen += page["photos"]
        cursor = page["next"]
        if cursor is None:
            break
    assert len(seen) == 11 and len({p["id"] for p in seen}) == 11
    keys = [2.0 if p["confidence"] is None else p["confidence"] for p in seen]
    assert keys == sorted(keys)
    assert seen[-1]["source"] == "human"  # no confidence: last
    assert first["photos"] == seen[:3]

    _, trip = review_server.json("GET", f"/api/photos?under={review_library[0] / 'trip'}")
    assert [p["name"] for p in trip["photos"]] == ["horse.jpg"]
    _, humans = review_server.json("GET", "/api/photos?source=human")
    assert "hostile.jpg" in [p["name"] for p in humans["photos"]]
    assert all(p["source"] == "human" for p in humans["photos"])
    _, held = review_server.json("GET", "/api/photos?held_back=true")
    assert [p["name"] for p in held["photos"]] == ["moon.jpg"]
    _, by_path = review_server.json("GET", "/api/photos?sort=path&limit=200")
    assert [p["path"] for p in by_path["photos"]] == sorted(p["path"] for p in seen)
    word = next(w for w in seen[0]["caption"].split() if len(w) > 3).strip(".")
    _, found = review_server.json("GET", f"/api/photos?q={word}&limit=200")
    searched = photocap("search", word, "--db", review_library[1], "--json", "--limit", "100")
    assert searched.returncode == 0, searched.stderr
    expected = {hit["path"] for hit in json.loads(searched.stdout)}
    assert found["photos"] and {p["path"] for p in found["photos"]} == expected
    _, nothing = review_server.json("GET", "/api/photos?q=zebra")
    assert nothing == {"photos": [], "next": None, "total": 0, "total_exact": True}
    for bad in ("sort=size", "limit=0", "limit=x", "after=garbage", "source=robot", "held_back=2"):
        status, error = review_server.json("GET", f"/api/photos?{bad}")
        assert status == 400 and error["error"], bad


def test_a_saved_caption_is_in_the_photo_as_a_persons_and_search_finds_it(
    review_server, review_library
):
    folder, db = review_library
    pid = photo_id(review_server, "chelsea.jpg")
    status, before = review_server.json("GET", f"/api/photos/{pid}")
    assert before["source"] == "model" and "XMP-photocap:Caption" in exif_fields(
        folder / "chelsea.jpg"
    )
    status, after = review_server.json(
        "PATCH", f"/api/photos/{pid}", body={"caption": "  A ginger tabby cat\nlooks up.  "}
    )
    assert status == 200, after
    text = "A ginger tabby cat looks up."
    assert after["caption"] == text and after["source"] == "human"
    assert after["confidence"] is None and after["model_id"] is None
    fields = exif_fields(folder / "chelsea.jpg")
    assert fields["XMP-iptcCore:AltTextAccessibility"] == text
    assert fields["XMP-dc:Description"] == text
    assert fields["IFD0:ImageDescription"] == text
    assert not [k for k in fields if k.startswith("XMP-photocap")]  # no model provenance
    assert read_caption(folder / "chelsea.jpg").source == "human"
    assert review_server.json("GET", f"/api/photos/{pid}")[1]["caption"] == text

    found = photocap("search", "ginger tabby", "--db", db, "--json")
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert hits[0]["path"].endswith("chelsea.jpg") and hits[0]["source"] == "human"
    status, listed = review_server.json("GET", "/api/photos?q=ginger")
    assert [p["id"] for p in listed["photos"]] == [pid]


def test_a_png_gets_a_sidecar_and_the_index_rerun_keeps_every_correction(
    review_server, review_library, tiny_model
):
    folder, db = review_library
    pid = photo_id(review_server, "rocket.png")
    png = (folder / "rocket.png").read_bytes()
    status, after = review_server.json("PATCH", f"/api/photos/{pid}", body={"caption": "A rocket."})
    assert status == 200 and after["source"] == "human"
    assert (folder / "rocket.png").read_bytes() == png  # PNG: never embedded by default
    sidecar = exif_fields(folder / "rocket.png.xmp")
    assert sidecar["XMP-iptcCore:AltTextAccessibility"] == "A rocket."

    rerun = photocap(
        "index", folder, "--db", db, "--model", tiny_model, "--min-confidence", "0", "--json"
    )
    assert rerun.returncode in (0, 1), rerun.stderr  # the read-only photo is not rewritten
    assert review_server.json("GET", f"/api/photos/{pid}")[1]["caption"] == "A rocket."
    assert json.loads(rerun.stdout)["captioned"] == 0  # nothing re-captioned


def test_accept_makes_a_model_caption_a_persons_and_clear_removes_it(review_server, review_library):
    folder = review_library[0]
    pid = photo_id(review_server, "camera.jpg")
    _, photo = review_server.json("GET", f"/api/photos/{pid}")
    assert photo["source"] == "model"
    status, accepted = review_server.json(
        "PATCH", f"/api/photos/{pid}", body={"caption": photo["caption"]}
    )
    assert status == 200 and accepted["source"] == "human"
    assert accepted["caption"] == photo["caption"]
    fields = exif_fields(folder / "camera.jpg")
    assert fields["XMP-iptcCore:AltTextAccessibility"] == photo["caption"]
    assert not [k for k in fields if k.startswith("XMP-photocap")]

    status, cleared = review_server.json("PATCH", f"/api/photos/{pid}", body={"caption": None})
    assert status == 200 and cleared["caption"] is None
    fields = exif_fields(folder / "camera.jpg")
    assert "XMP-iptcCore:AltTextAccessibility" not in fields
    assert "XMP-dc:Description" not in fields
    assert "IFD0:ImageDescription" not in fields
    assert read_caption(folder / "camera.jpg") is None


def test_a_failed_write_says_why_and_changes_nothing(review_server, review_library):
    folder = review_library[0]
    pid = photo_id(review_server, "readonly.jpg")
    before = (folder / "readonly.jpg").read_bytes()
    _, photo = review_server.json("GET", f"/api/photos/{pid}")
    status, error = review_server.json("PATCH", f"/api/photos/{pid}", body={"caption": "Cells."})
    assert status == 422
    assert "read-only" in error["error"] and error["photo"]["caption"] == photo["caption"]
    assert (folder / "readonly.jpg").read_bytes() == before
    assert review_server.json("GET", f"/api/photos/{pid}")[1] == photo


@pytest.mark.parametrize(
    "body, content_type",
    [
        ({"caption": 3}, "application/json"),
        ({"text": "x"}, "application/json"),
        (["x"], "application/json"),
        ({"caption": "x" * 2001}, "application/json"),
        ({"caption": "tab\x01"}, "application/json"),
        ({"caption": "A cat."}, "text/plain"),
    ],
)
def test_bad_patches_are_refused(review_server, review_library, body, content_type):
    pid = photo_id(review_server, "clock.jpg")
    before = (review_library[0] / "clock.jpg").read_bytes()
    status, _, _ = review_server.request(
        "PATCH", f"/api/photos/{pid}", body=body, headers={"Content-Type": content_type}
    )
    assert status in (400, 415, 422)
    assert (review_library[0] / "clock.jpg").read_bytes() == before
    assert review_server.request("PATCH", "/api/photos/999999", body={"caption": "x"})[0] == 404


def test_the_hostile_caption_comes_back_as_plain_text(review_server):
    pid = photo_id(review_server, "hostile.jpg")
    status, photo = review_server.json("GET", f"/api/photos/{pid}")
    assert status == 200 and photo["caption"] == HOSTILE and photo["source"] == "human"


def test_thumbnails_are_oriented_and_cached(review_server, review_library, tmp_path):
    status, headers, body = review_server.request(
        "GET", f"/thumbnails/{photo_id(review_server, 'rotated.jpg')}"
    )
    assert status == 200 and headers["content-type"] == "image/jpeg"
    thumb = tmp_path / "t.jpg"
    thumb.write_bytes(body)
    with Image.open(thumb) as image:
        assert image.height > image.width and max(image.size) <= 320  # 600x400, turned 90°
    made = sorted((review_server.cache / "photocap" / "thumbnails").rglob("*.jpg"))
    assert made and all(f.stat().st_size > 0 for f in made)
    stamps = {f: f.stat().st_mtime_ns for f in made}
    again = review_server.request("GET", f"/thumbnails/{photo_id(review_server, 'rotated.jpg')}")
    assert again[0] == 200 and again[2] == body
    assert {f: f.stat().st_mtime_ns for f in made} == stamps  # served from the cache
    assert sorted((review_server.cache / "photocap" / "thumbnails").rglob("*.jpg")) == made


def test_under_keeps_the_server_to_one_folder(review_library, tmp_path):
    folder, db = review_library
    server = start_review(db, tmp_path / "cache", "--under", str(folder / "trip"))
    try:
        status, page = server.json("GET", "/api/photos")
        assert status == 200 and [p["name"] for p in page["photos"]] == ["horse.jpg"]
        _, wider = server.json("GET", f"/api/photos?under={folder}")
        assert [p["name"] for p in wider["photos"]] == ["horse.jpg"]  # never outside --under
        horse = page["photos"][0]["id"]
        outside = next(i for i in range(1, 20) if i != horse)
        before = {p: p.read_bytes() for p in folder.glob("*.jpg")}
        assert server.request("GET", f"/api/photos/{outside}")[0] == 404
        assert server.request("GET", f"/thumbnails/{outside}")[0] == 404
        patched = server.request("PATCH", f"/api/photos/{outside}", body={"caption": "x"})
        assert patched[0] == 404
        assert {p: p.read_bytes() for p in folder.glob("*.jpg")} == before
    finally:
        assert server.stop() == 0
