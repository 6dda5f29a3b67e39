"""photocap.metadata on real photos: where captions go, who wrote them, and that nothing is damaged."""

from __future__ import annotations

import io
import os
import stat
import struct
import time
from pathlib import Path

import numpy as np
import piexif
import pytest
from metadata_helpers import (
    big_xmp,
    jpeg_scan_data,
    jpeg_segments,
    lang_alt,
    photo_array,
    pixels,
    save_photo,
    xmp_packet,
)

from photocap import __version__
from photocap.errors import HumanCaptionExists, ImageError, MetadataError, UnsafeXMPError
from photocap.metadata import (
    CaptionRecord,
    WriteResult,
    photos_of_sidecars,
    read_caption,
    sidecar_candidates,
    sidecar_path,
    write_caption,
)
from photocap.metadata.xmp import NS_PHOTOCAP, XmpDocument
from photocap.photos.kinds import is_photocap_file

MODEL = "sat-efficientnet_lite2-flickr8k"
CAPTION = "a cat sitting on a wooden floor"


@pytest.fixture
def jpeg(tmp_path: Path) -> Path:
    return save_photo(tmp_path / "chelsea.jpg", "jpeg")


def snapshot(path: Path) -> tuple[bytes, int, int]:
    st = path.stat()
    return path.read_bytes(), st.st_mtime_ns, stat.S_IMODE(st.st_mode)


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- JPEG in place ------------------------------------------------------------------------------------


def test_jpeg_write_then_read_round_trips_and_keeps_image_data(jpeg: Path):
    before = jpeg.read_bytes()
    result = write_caption(jpeg, CAPTION, model_id=MODEL)
    assert result == WriteResult("embedded", jpeg)
    assert read_caption(jpeg) == CaptionRecord(CAPTION, "model", MODEL, jpeg)
    after = jpeg.read_bytes()
    assert jpeg_scan_data(after) == jpeg_scan_data(before)  # entropy-coded data byte-identical
    kept = [s for s in jpeg_segments(before) if s[0] != 0xE1]
    assert [s for s in jpeg_segments(after) if s[0] != 0xE1] == kept  # JFIF, ICC, DQT, SOF, DHT
    assert listing(jpeg.parent) == ["chelsea.jpg"]  # no sidecar, no temporary file


def test_camera_jpeg_keeps_exif_first_and_gets_xmp_after_it(tmp_path: Path):
    """Cameras write SOI, APP1 EXIF, ... with no JFIF; EXIF must stay right after SOI."""
    path = save_photo(tmp_path / "camera.jpg", "jpeg")
    data = path.read_bytes()
    assert data[2:4] == b"\xff\xe0"
    app0_len = struct.unpack(">H", data[4:6])[0]
    no_jfif = data[:2] + data[4 + app0_len :]
    exif = piexif.dump({"0th": {piexif.ImageIFD.Make: b"Canon"}})
    out = io.BytesIO()
    piexif.insert(exif, no_jfif, out)
    path.write_bytes(out.getvalue())
    before = jpeg_segments(path.read_bytes())
    assert before[0][1].startswith(b"Exif") and not any(m == 0xE0 for m, _ in before)
    write_caption(path, CAPTION, model_id=MODEL)
    after = jpeg_segments(path.read_bytes())
    assert after[0][1].startswith(b"Exif") and after[1][1].startswith(
        b"http://ns.adobe.com/xap/1.0/"
    )
    assert after[2:] == before[1:]


def test_provenance_records_model_version_and_time(jpeg: Path):
    start = time.time()
    write_caption(jpeg, CAPTION, model_id=MODEL)
    packet = next(
        p
        for m, p in jpeg_segments(jpeg.read_bytes())
        if p.startswith(b"http://ns.adobe.com/xap/1.0/\0")
    )
    prov = XmpDocument.parse(packet[29:], path=jpeg).provenance()
    assert (prov.caption, prov.model_id, prov.version) == (CAPTION, MODEL, __version__)
    from datetime import datetime

    assert datetime.fromisoformat(prov.captioned_at).timestamp() >= int(start)
    assert NS_PHOTOCAP.encode() in packet


def test_mtime_and_mode_are_kept_unless_asked(jpeg: Path):
    os.chmod(jpeg, 0o640)
    old = time.time_ns() - 10**12
    os.utime(jpeg, ns=(old, old))
    write_caption(jpeg, CAPTION, model_id=MODEL)
    st = jpeg.stat()
    assert (st.st_mtime_ns, stat.S_IMODE(st.st_mode)) == (old, 0o640)
    write_caption(jpeg, CAPTION + " again", model_id=MODEL, keep_mtime=False)
    assert jpeg.stat().st_mtime_ns > old + 10**11


def test_symlink_is_written_through_and_xattrs_are_kept(jpeg: Path):
    link = jpeg.with_name("link.jpg")
    link.symlink_to(jpeg.name)
    try:
        os.setxattr(jpeg, "user.xdg.tags", b"favourite")
    except OSError:
        has_xattr = False
    else:
        has_xattr = True
    assert write_caption(link, CAPTION, model_id=MODEL) == WriteResult("embedded", jpeg)
    assert link.is_symlink() and read_caption(jpeg).text == CAPTION
    if has_xattr:
        assert os.getxattr(jpeg, "user.xdg.tags") == b"favourite"


def test_rewriting_photocaps_own_caption_needs_no_overwrite(jpeg: Path):
    write_caption(jpeg, "a dog", model_id="old-model")
    write_caption(jpeg, "a cat", model_id="new-model")
    assert read_caption(jpeg) == CaptionRecord("a cat", "model", "new-model", jpeg)
    packet = next(
        p for m, p in jpeg_segments(jpeg.read_bytes()) if p.startswith(b"http://ns.adobe.com/xap")
    )
    assert (
        packet.count(b"AltTextAccessibility>") == 2 and b"a dog" not in packet
    )  # one field, updated


@pytest.mark.parametrize(
    "caption",
    [
        "Ein Kätzchen schläft auf dem Sofa, très élégant",
        "一只猫坐在木地板上",
        "猫が寝ている 🐱🐾 with emoji 👩🏽‍🦰",
        "שלום עולם — مرحبا",
        "quotes \"double\" & 'single' <tags> ]]> &amp;",
        "two\nlines\twith a tab and a CR\r\nline end",
        "  leading and trailing spaces  ",
    ],
)
def test_unicode_captions_round_trip_exactly(jpeg: Path, caption: str):
    write_caption(jpeg, caption, model_id=MODEL)
    assert read_caption(jpeg) == CaptionRecord(caption, "model", MODEL, jpeg)
    exif = piexif.load(jpeg.read_bytes())
    assert exif["0th"][piexif.ImageIFD.ImageDescription].decode("utf-8") == caption


def test_existing_exif_keeps_every_byte_outside_ifd0(tmp_path: Path):
    exif_block = piexif.dump(
        {
            "0th": {piexif.ImageIFD.Make: b"Canon", piexif.ImageIFD.Orientation: 6},
            "Exif": {
                piexif.ExifIFD.MakerNote: b"MAKERNOTE" * 20,
                piexif.ExifIFD.UserComment: b"ASCII\0\0\0hi",
            },
            "GPS": {
                piexif.GPSIFD.GPSLatitudeRef: b"N",
                piexif.GPSIFD.GPSLatitude: ((47, 1), (22, 1), (3684, 100)),
            },
        }
    )
    path = save_photo(tmp_path / "c.jpg", "jpeg", exif=exif_block)
    old = next(p for m, p in jpeg_segments(path.read_bytes()) if p.startswith(b"Exif"))
    write_caption(path, CAPTION, model_id=MODEL)
    new = next(p for m, p in jpeg_segments(path.read_bytes()) if p.startswith(b"Exif"))
    assert new.startswith(old[: 4 + 6]) and len(new) > len(old)
    ifd0 = struct.unpack(">I", old[10:14])[0] + 6
    count = struct.unpack(">H", old[ifd0 : ifd0 + 2])[0]
    ifd0_end = ifd0 + 2 + 12 * count + 4
    assert (
        new[ifd0_end : len(old)] == old[ifd0_end:]
    )  # maker note, GPS, Exif IFD: same bytes, same offsets
    loaded = piexif.load(path.read_bytes())
    assert loaded["0th"][piexif.ImageIFD.Orientation] == 6
    assert loaded["Exif"][piexif.ExifIFD.MakerNote] == b"MAKERNOTE" * 20
    assert loaded["0th"][piexif.ImageIFD.ImageDescription] == CAPTION.encode()


# -- human captions -----------------------------------------------------------------------------------


def test_human_xmp_caption_is_never_overwritten_unless_asked(tmp_path: Path):
    path = save_photo(
        tmp_path / "c.jpg", "jpeg", xmp=xmp_packet(lang_alt("dc:description", "Mimi on the floor"))
    )
    before = snapshot(path)
    assert read_caption(path) == CaptionRecord("Mimi on the floor", "human", None, path)
    with pytest.raises(HumanCaptionExists, match="Mimi on the floor") as info:
        write_caption(path, CAPTION, model_id=MODEL)
    assert info.value.path == path and "--overwrite" in info.value.hint
    assert snapshot(path) == before
    write_caption(path, CAPTION, model_id=MODEL, overwrite=True)
    assert read_caption(path) == CaptionRecord(CAPTION, "model", MODEL, path)


def test_human_exif_description_blocks_but_camera_placeholder_does_not(tmp_path: Path):
    human = piexif.dump({"0th": {piexif.ImageIFD.ImageDescription: b"Grandma's cat"}})
    path = save_photo(tmp_path / "human.jpg", "jpeg", exif=human)
    assert read_caption(path).source == "human"
    with pytest.raises(HumanCaptionExists):
        write_caption(path, CAPTION, model_id=MODEL)
    camera = piexif.dump(
        {"0th": {piexif.ImageIFD.ImageDescription: b"OLYMPUS DIGITAL CAMERA         "}}
    )
    path = save_photo(tmp_path / "camera.jpg", "jpeg", exif=camera)
    assert read_caption(path) is None
    write_caption(path, CAPTION, model_id=MODEL)
    assert piexif.load(str(path))["0th"][piexif.ImageIFD.ImageDescription] == CAPTION.encode()


def test_a_person_editing_photocaps_caption_makes_it_theirs(jpeg: Path):
    write_caption(jpeg, CAPTION, model_id=MODEL)
    data = jpeg.read_bytes()
    edited = data.replace(
        b'"x-default">a cat sitting', b'"x-default">A cat resting', 1
    )  # alt text only
    assert edited != data
    jpeg.write_bytes(edited)
    record = read_caption(jpeg)
    assert record == CaptionRecord("A cat resting on a wooden floor", "human", None, jpeg)
    with pytest.raises(HumanCaptionExists):
        write_caption(jpeg, "a cat", model_id=MODEL)


def test_other_languages_and_properties_survive_an_overwrite(tmp_path: Path):
    body = lang_alt("dc:description", "A cat", '<rdf:li xml:lang="de">Eine Katze</rdf:li>')
    path = save_photo(tmp_path / "c.jpg", "jpeg", xmp=xmp_packet(body))
    write_caption(path, CAPTION, model_id=MODEL, overwrite=True)
    packet = next(
        p for m, p in jpeg_segments(path.read_bytes()) if p.startswith(b"http://ns.adobe.com/xap")
    )
    doc = XmpDocument.parse(packet[29:], path=path)
    assert doc.get_lang_alt("http://purl.org/dc/elements/1.1/", "description") == CAPTION
    text = packet.decode()
    for kept in (
        "Eine Katze",
        "Zürich",
        "Animals|Cat",
        'xmp:Rating="4"',
        'xmp:Label="Red"',
        "photo manager",
    ):
        assert kept in text


# -- sidecars -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt, suffix", [("png", ".png"), ("webp", ".webp"), ("tiff", ".tif"), ("heic", ".heic")]
)
def test_auto_writes_a_sidecar_for_other_formats_and_leaves_the_photo_alone(
    tmp_path: Path, fmt: str, suffix: str
):
    path = save_photo(tmp_path / f"chelsea{suffix}", fmt)
    before = snapshot(path)
    result = write_caption(path, CAPTION, model_id=MODEL)
    side = tmp_path / f"chelsea{suffix}.xmp"
    assert result == WriteResult("sidecar", side) and sidecar_path(path) == side
    assert snapshot(path) == before
    assert read_caption(path) == CaptionRecord(CAPTION, "model", MODEL, side)
    assert stat.S_IMODE(side.stat().st_mode) == stat.S_IMODE(path.stat().st_mode) & 0o666


def test_gif_and_bmp_get_sidecars(tmp_path: Path):
    for suffix in (".gif", ".bmp"):
        path = tmp_path / f"c{suffix}"
        from PIL import Image

        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)
        assert write_caption(path, CAPTION, model_id=MODEL).target == tmp_path / f"c{suffix}.xmp"
        assert read_caption(path).location == tmp_path / f"c{suffix}.xmp"


def test_existing_sidecar_is_merged_not_replaced(tmp_path: Path):
    path = save_photo(tmp_path / "c.png", "png")
    side = sidecar_path(path)
    side.write_bytes(
        xmp_packet(
            '<dc:rights><rdf:Alt><rdf:li xml:lang="x-default">© Jane</rdf:li></rdf:Alt></dc:rights>'
        )
    )
    write_caption(path, CAPTION, model_id=MODEL)
    text = side.read_text("utf-8")
    for kept in ("© Jane", "Zürich", "Animals|Cat", 'xmp:Rating="4"', "photo manager", "<rdf:Bag>"):
        assert kept in text
    assert read_caption(path) == CaptionRecord(CAPTION, "model", MODEL, side)


def test_lightroom_sidecar_is_read_and_protects_a_human_caption(tmp_path: Path):
    path = save_photo(tmp_path / "IMG_0001.tif", "tiff")
    lightroom = tmp_path / "IMG_0001.xmp"
    lightroom.write_bytes(xmp_packet(lang_alt("Iptc4xmpCore:AltTextAccessibility", "Mimi asleep")))
    assert read_caption(path) == CaptionRecord("Mimi asleep", "human", None, lightroom)
    with pytest.raises(HumanCaptionExists, match="IMG_0001.xmp"):
        write_caption(path, CAPTION, model_id=MODEL)
    assert listing(tmp_path) == ["IMG_0001.tif", "IMG_0001.xmp"]
    write_caption(
        path, CAPTION, model_id=MODEL, overwrite=True
    )  # into <name>.<ext>.xmp; Lightroom's stays
    assert lightroom.read_bytes() == xmp_packet(
        lang_alt("Iptc4xmpCore:AltTextAccessibility", "Mimi asleep")
    )
    ours = XmpDocument.parse((tmp_path / "IMG_0001.tif.xmp").read_bytes(), path=lightroom)
    assert (
        ours.get_lang_alt("http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/", "AltTextAccessibility")
        == CAPTION
    )


def test_photos_of_sidecars_are_exactly_those_that_read_them(tmp_path: Path):
    names = [
        "IMG_1.CR2", "IMG_1.jpg", "IMG_1.xmp", "IMG_1.jpg.xmp", "IMG_10.jpg", "IMG_1.jpg.png",
        "garden.png", "garden.png.xmp", "b.heic", "b.XMP", "c.jpg", "c.Xmp", "d.tar.gz", "d.tar.xmp",
        ".hidden", ".hidden.xmp", "lonely.xmp",
    ]  # fmt: skip
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "e.jpg").mkdir()  # a folder is no photo
    (tmp_path / "e.xmp").write_bytes(b"x")
    other = tmp_path / "other"
    other.mkdir()
    (other / "IMG_1.jpg").write_bytes(b"x")

    def of(*sidecars: Path) -> list[str]:
        return [str(p.relative_to(tmp_path)) for p in photos_of_sidecars(sidecars)]

    assert of(tmp_path / "IMG_1.xmp") == ["IMG_1.CR2", "IMG_1.jpg"]
    assert of(tmp_path / "IMG_1.jpg.xmp") == ["IMG_1.jpg", "IMG_1.jpg.png"]  # Lightroom's too
    assert of(tmp_path / "garden.png.xmp", other / "IMG_1.xmp", tmp_path / "b.XMP") == [
        "b.heic",
        "garden.png",
        "other/IMG_1.jpg",
    ]
    assert of(tmp_path / "lonely.xmp") == of(tmp_path / "IMG_1.jpg") == []  # none; no sidecar
    assert of(tmp_path / "gone" / "x.xmp") == []
    for sidecar in tmp_path.iterdir():  # the inverse of sidecar_candidates, whatever the name
        readers = sorted(
            p for p in tmp_path.iterdir() if p.is_file() and sidecar in sidecar_candidates(p)
        )
        readers = [p for p in readers if not p.name.lower().endswith(".xmp")]
        assert photos_of_sidecars([sidecar]) == readers, sidecar.name


def test_explicit_sidecar_and_none_modes(jpeg: Path):
    before = snapshot(jpeg)
    assert write_caption(jpeg, CAPTION, model_id=MODEL, mode="none") == WriteResult("none", None)
    assert listing(jpeg.parent) == ["chelsea.jpg"]
    assert write_caption(jpeg, CAPTION, model_id=MODEL, mode="sidecar") == WriteResult(
        "sidecar", sidecar_path(jpeg)
    )
    assert snapshot(jpeg) == before
    assert read_caption(jpeg).location == sidecar_path(jpeg)


# -- embedding into PNG and WebP --------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt, options",
    [
        ("png", {}),
        ("webp", {"quality": 80}),  # simple lossy (VP8), gains a VP8X header
        ("webp", {"lossless": True}),  # simple lossless (VP8L)
        (
            "webp",
            {"quality": 80, "exif": piexif.dump({"0th": {piexif.ImageIFD.Orientation: 3}})},
        ),  # VP8X, ICC, EXIF
    ],
)
def test_embed_into_png_and_webp_keeps_pixels(tmp_path: Path, fmt: str, options: dict):
    path = save_photo(tmp_path / f"c.{fmt}", fmt, **options)
    before = pixels(path)
    assert write_caption(path, "un chat 猫", model_id=MODEL, mode="embed") == WriteResult(
        "embedded", path
    )
    assert read_caption(path) == CaptionRecord("un chat 猫", "model", MODEL, path)
    assert np.array_equal(pixels(path), before)
    from PIL import Image

    with Image.open(path) as im:
        if fmt == "webp":
            exif = im.getexif()
            assert exif[0x010E].encode("latin-1").decode("utf-8") == "un chat 猫"  # Pillow: latin-1
            if "exif" in options:
                assert exif[0x0112] == 3
        assert "icc_profile" in im.info


@pytest.mark.parametrize("kind", ["rgba-lossy", "rgba-lossless", "animated"])
def test_embed_into_webp_with_alpha_or_animation_keeps_every_frame(tmp_path: Path, kind: str):
    from PIL import Image, ImageSequence

    rgb = photo_array("astronaut")
    alpha = np.linspace(0, 255, rgb.shape[1], dtype=np.uint8)[None, :].repeat(rgb.shape[0], 0)
    path = tmp_path / "c.webp"
    if kind == "animated":
        frames = [Image.fromarray(np.roll(rgb, 40 * i, axis=1)) for i in range(3)]
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    else:
        Image.fromarray(np.dstack([rgb, alpha])).save(path, lossless=kind == "rgba-lossless")

    def decoded() -> list[np.ndarray]:
        with Image.open(path) as im:
            return [np.asarray(f.convert("RGBA")).copy() for f in ImageSequence.Iterator(im)]

    before = decoded()
    write_caption(path, "un chat", model_id=MODEL, mode="embed")
    after = decoded()
    assert len(after) == len(before) and all(
        np.array_equal(a, b) for a, b in zip(after, before, strict=True)
    )
    assert read_caption(path).text == "un chat"
    if kind != "animated":
        assert after[0][..., 3].min() == 0  # transparency survived (VP8X alpha flag)


def test_embed_refuses_formats_it_cannot_write_safely(tmp_path: Path):
    path = save_photo(tmp_path / "c.tif", "tiff")
    before = snapshot(path)
    with pytest.raises(MetadataError, match="cannot embed.*TIFF") as info:
        write_caption(path, CAPTION, model_id=MODEL, mode="embed")
    assert "sidecar" in info.value.hint
    assert snapshot(path) == before and listing(tmp_path) == ["c.tif"]


# -- files that must be left alone -------------------------------------------------------------------


def test_read_only_file_is_refused(jpeg: Path):
    os.chmod(jpeg, 0o444)
    before = snapshot(jpeg)
    with pytest.raises(MetadataError, match="read-only") as info:
        write_caption(jpeg, CAPTION, model_id=MODEL)
    assert info.value.path == jpeg
    assert "--write sidecar" in info.value.hint  # the CLI's option, as `photocap index` spells it
    assert snapshot(jpeg) == before and listing(jpeg.parent) == ["chelsea.jpg"]


@pytest.mark.parametrize("name, fmt", [("c.jpg", "jpeg"), ("c.png", "png")])
def test_read_only_folder_is_refused(tmp_path: Path, name: str, fmt: str):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = save_photo(folder / name, fmt)
    before = snapshot(path)
    os.chmod(folder, 0o555)
    try:
        with pytest.raises(MetadataError, match="folder is read-only") as info:
            write_caption(path, CAPTION, model_id=MODEL)
        assert "--write none" in info.value.hint
        assert snapshot(path) == before and listing(folder) == [name]
    finally:
        os.chmod(folder, 0o755)


def test_missing_file(tmp_path: Path):
    with pytest.raises(ImageError, match="not found"):
        write_caption(tmp_path / "gone.jpg", CAPTION, model_id=MODEL)
    with pytest.raises(ImageError, match="not found"):
        read_caption(tmp_path / "gone.jpg")
    assert listing(tmp_path) == []


def test_file_vanishing_mid_write_leaves_nothing_behind(
    jpeg: Path, monkeypatch: pytest.MonkeyPatch
):
    import photocap.metadata.api as api

    real = api.load_photo

    def load_then_vanish(*args, **kwargs):
        photo = real(*args, **kwargs)
        jpeg.unlink()
        return photo

    monkeypatch.setattr(api, "load_photo", load_then_vanish)
    with pytest.raises(ImageError, match="vanished"):
        write_caption(jpeg, CAPTION, model_id=MODEL)
    assert listing(jpeg.parent) == []  # not resurrected, no temporary file


def test_file_changed_by_someone_else_mid_write_is_not_clobbered(
    jpeg: Path, monkeypatch: pytest.MonkeyPatch
):
    import photocap.metadata.api as api

    real = api.load_photo

    def load_then_change(*args, **kwargs):
        photo = real(*args, **kwargs)
        with open(jpeg, "ab") as f:
            f.write(b"more")
        return photo

    monkeypatch.setattr(api, "load_photo", load_then_change)
    with pytest.raises(MetadataError, match="changed while"):
        write_caption(jpeg, CAPTION, model_id=MODEL)
    assert jpeg.read_bytes().endswith(b"more") and listing(jpeg.parent) == ["chelsea.jpg"]


def test_failed_rename_removes_the_temporary_file(jpeg: Path, monkeypatch: pytest.MonkeyPatch):
    before = snapshot(jpeg)

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(MetadataError, match="No space left"):
        write_caption(jpeg, CAPTION, model_id=MODEL)
    assert snapshot(jpeg) == before and listing(jpeg.parent) == ["chelsea.jpg"]


@pytest.mark.parametrize("fmt, cut", [("jpeg", 0.6), ("jpeg", 0.999), ("png", 0.5), ("webp", 0.7)])
def test_truncated_files_are_refused(tmp_path: Path, fmt: str, cut: float):
    path = save_photo(tmp_path / f"c.{fmt}", fmt)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    before = snapshot(path)
    with pytest.raises(ImageError, match="truncated") as info:
        write_caption(path, CAPTION, model_id=MODEL, mode="embed")
    assert info.value.path == path
    with pytest.raises(ImageError, match="truncated"):
        write_caption(path, CAPTION, model_id=MODEL, mode="sidecar")
    assert snapshot(path) == before and listing(tmp_path) == [path.name]


def test_corrupt_files_are_refused(tmp_path: Path):
    jpeg = tmp_path / "c.jpg"
    jpeg.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 5 + b"garbage" * 100)
    png = save_photo(tmp_path / "c.png", "png")
    data = bytearray(png.read_bytes())
    data[40] ^= 0xFF  # inside IHDR/first chunk: CRC no longer matches
    png.write_bytes(bytes(data))
    for path, message in ((jpeg, "corrupt JPEG"), (png, "corrupt PNG: bad CRC")):
        before = snapshot(path)
        with pytest.raises(ImageError, match=message):
            write_caption(path, CAPTION, model_id=MODEL, mode="embed")
        assert snapshot(path) == before
    assert listing(tmp_path) == ["c.jpg", "c.png"]


def test_extension_that_lies_about_the_content_is_refused(tmp_path: Path):
    png_as_jpg = save_photo(tmp_path / "c.png", "png").rename(tmp_path / "really-a-png.jpg")
    jpg_as_nef = save_photo(tmp_path / "c.jpg", "jpeg").rename(tmp_path / "IMG.NEF")
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo at all")
    for path, message in (
        (png_as_jpg, "name says JPEG but the file holds PNG"),
        (jpg_as_nef, "name says RAW but the file holds JPEG"),
        (text, "name says JPEG but the file holds data that is not a photo"),
    ):
        before = snapshot(path)
        with pytest.raises(ImageError, match=message):
            write_caption(path, CAPTION, model_id=MODEL)
        with pytest.raises(ImageError, match=message):
            read_caption(path)
        assert snapshot(path) == before
    assert not any(is_photocap_file(p) for p in tmp_path.iterdir())


def test_a_directory_or_unknown_file_is_not_a_photo(tmp_path: Path):
    (tmp_path / "album.jpg").mkdir()
    with pytest.raises(ImageError, match="is a folder, not a photo"):
        write_caption(tmp_path / "album.jpg", CAPTION, model_id=MODEL)
    (tmp_path / "README").write_text("hello")
    with pytest.raises(ImageError, match="not a photo format"):
        read_caption(tmp_path / "README")


@pytest.mark.parametrize("caption", ["", "   ", "bell\x07", "nul\x00byte", "x" * 9000])
def test_invalid_captions_are_refused(jpeg: Path, caption: str):
    before = snapshot(jpeg)
    with pytest.raises(MetadataError):
        write_caption(jpeg, caption, model_id=MODEL)
    assert snapshot(jpeg) == before


def test_unknown_mode_is_refused(jpeg: Path):
    with pytest.raises(MetadataError, match="unknown write mode"):
        write_caption(jpeg, CAPTION, model_id=MODEL, mode="inplace")  # type: ignore[arg-type]


# -- hostile and malformed XMP ----------------------------------------------------------------------

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        b' <!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b']>\n<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    + b'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>&lol9;</dc:title>'
    + b"</rdf:Description></rdf:RDF></x:xmpmeta>"
)
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?>\n<!DOCTYPE x [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>\n'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>&xxe;</dc:title>'
    b"</rdf:Description></rdf:RDF></x:xmpmeta>"
)


@pytest.mark.parametrize(
    "packet", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"]
)
@pytest.mark.parametrize("where", ["embedded", "sidecar"])
def test_hostile_xmp_is_refused_quickly(tmp_path: Path, packet: bytes, where: str):
    if where == "embedded":
        path = save_photo(tmp_path / "c.jpg", "jpeg", xmp=packet)
        assert packet in path.read_bytes()
    else:
        path = save_photo(tmp_path / "c.png", "png")
        sidecar_path(path).write_bytes(packet)
    before = {p.name: snapshot(p) for p in tmp_path.iterdir()}
    start = time.perf_counter()
    with pytest.raises(UnsafeXMPError, match="unsafe") as info:
        write_caption(path, CAPTION, model_id=MODEL)
    with pytest.raises(UnsafeXMPError):
        read_caption(path)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"hostile XMP took {elapsed:.2f} s"
    assert info.value.path in (path, sidecar_path(path)) and "untouched" in info.value.hint
    assert {p.name: snapshot(p) for p in tmp_path.iterdir()} == before


def test_absurdly_deep_xmp_is_refused_quickly(tmp_path: Path):
    path = save_photo(tmp_path / "c.png", "png")
    depth = 200_000
    sidecar_path(path).write_bytes(b"<a>" * depth + b"</a>" * depth)
    start = time.perf_counter()
    with pytest.raises(UnsafeXMPError, match="nested"):
        write_caption(path, CAPTION, model_id=MODEL)
    assert time.perf_counter() - start < 1.0


def test_malformed_xmp_is_refused_not_replaced(tmp_path: Path):
    path = save_photo(tmp_path / "c.png", "png")
    sidecar_path(path).write_bytes(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF>unclosed")
    with pytest.raises(MetadataError, match="not well-formed"):
        write_caption(path, CAPTION, model_id=MODEL)
    assert sidecar_path(path).read_bytes().endswith(b"unclosed")


# -- Extended XMP -------------------------------------------------------------------------------------


def test_xmp_too_big_for_one_segment_spills_into_extended_xmp(tmp_path: Path):
    from photocap.metadata import jpeg as jpeg_mod

    packet = big_xmp(975)  # ~64 KB: fits alone, not with a caption
    assert 60_000 < len(packet) < jpeg_mod.MAX_XMP_PACKET
    path = save_photo(tmp_path / "big.jpg", "jpeg", xmp=packet)
    before = path.read_bytes()
    write_caption(path, CAPTION, model_id=MODEL)
    after = path.read_bytes()
    assert jpeg_scan_data(after) == jpeg_scan_data(before)
    app1 = [p for m, p in jpeg_segments(after) if m == 0xE1]
    standard = next(p for p in app1 if p.startswith(jpeg_mod.XMP_HEADER))[
        len(jpeg_mod.XMP_HEADER) :
    ]
    extended = [p for p in app1 if p.startswith(jpeg_mod.EXT_HEADER)]
    assert len(standard) <= jpeg_mod.MAX_XMP_PACKET and extended
    parsed = jpeg_mod.parse(after, path=path)
    doc = XmpDocument.parse(standard, path=path)
    guid = doc.get_simple("http://ns.adobe.com/xmp/note/", "HasExtendedXMP")
    ext = parsed.extended_xmp(guid)
    import hashlib

    assert hashlib.md5(ext).hexdigest().upper() == guid
    whole = standard + ext
    assert whole.count(b"keyword number") == 975 and whole.count(b"xmp.did:") == 100
    assert read_caption(path) == CaptionRecord(CAPTION, "model", MODEL, path)
    # A second write keeps the Extended XMP as it is.
    write_caption(path, "a sleepy cat", model_id=MODEL)
    again = [p for m, p in jpeg_segments(path.read_bytes()) if p.startswith(jpeg_mod.EXT_HEADER)]
    assert again == extended


# -- names --------------------------------------------------------------------------------------------


def test_is_photocap_file_and_temporary_names(tmp_path: Path):
    from photocap.metadata.atomic import temp_name

    assert is_photocap_file(tmp_path / temp_name("IMG_0001.JPG"))
    assert is_photocap_file(tmp_path / temp_name("é" * 200 + ".jpg"))
    assert len(temp_name("é" * 200 + ".jpg").encode()) <= 255
    assert is_photocap_file("IMG_0001.JPG.xmp") and is_photocap_file("IMG_0001.XMP")
    assert not is_photocap_file("IMG_0001.JPG") and not is_photocap_file(".hidden.jpg")
    assert not is_photocap_file(".IMG.jpg.photocap-notours.tmp")


def test_photos_with_unicode_names(tmp_path: Path):
    path = save_photo(tmp_path / "Zürich 猫 🐱.jpeg", "jpeg")
    write_caption(path, CAPTION, model_id=MODEL)
    png = save_photo(tmp_path / "Zürich 猫 🐱.png", "png")
    write_caption(png, CAPTION, model_id=MODEL)
    assert read_caption(path).source == read_caption(png).source == "model"
    assert (tmp_path / "Zürich 猫 🐱.png.xmp").exists()


def test_copies_written_in_a_loop_stay_readable(tmp_path: Path, jpeg: Path):
    """Many successive writes neither grow the file without bound nor leave temporary files."""
    for i in range(20):
        write_caption(jpeg, f"caption number {i}", model_id=MODEL)
    assert read_caption(jpeg).text == "caption number 19"
    size_after_20 = jpeg.stat().st_size
    write_caption(jpeg, "caption number 20", model_id=MODEL)
    assert abs(jpeg.stat().st_size - size_after_20) < 64
    assert listing(tmp_path) == ["chelsea.jpg"]
