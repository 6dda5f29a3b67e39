"""photocap.photos on real files: every format, orientation, odd modes, broken files, discovery."""

from __future__ import annotations

import os
import re
import struct
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pillow_heif
import pillow_jxl  # noqa: F401  (to write JPEG XL test files)
import pytest
from photo_helpers import (
    bomb_png,
    exif_orientation,
    png_file,
    truncated,
    without_file_permission_override,
)
from PIL import Image, ImageFile
from skimage import data

from photocap.errors import ImageError
from photocap.photos.decode import decode_photo, open_photo
from photocap.photos.discover import discover
from photocap.photos.kinds import sniff, sniff_format

pillow_heif.register_heif_opener()  # to write HEIC test files; photocap registers its own reader

CHELSEA = data.chelsea()  # (300, 451, 3): landscape
COFFEE = data.coffee()  # (400, 600, 3)
ASTRONAUT = data.astronaut()  # (512, 512, 3)


# ---------------------------------------------------------------- helpers


def save(array: np.ndarray, path: Path, **options) -> Path:
    Image.fromarray(array).save(path, **options)
    return path


def mean_diff(image: Image.Image, expected: np.ndarray) -> float:
    return float(np.abs(np.asarray(image, dtype=np.float32) - expected.astype(np.float32)).mean())


def call_with_timeout(fn: Callable[[], object], seconds: float = 10) -> object:
    """fn() in a daemon thread; fails the test instead of hanging (e.g. on a FIFO)."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["result"] = fn()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]


@pytest.fixture(scope="module")
def formats(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """chelsea in each supported format."""
    folder = tmp_path_factory.mktemp("formats")
    frames = [Image.fromarray(a).resize((451, 300)) for a in (CHELSEA, COFFEE, ASTRONAUT)]
    gif = folder / "chelsea.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return {
        "jpeg": save(CHELSEA, folder / "chelsea.jpg", quality=92),
        "png": save(CHELSEA, folder / "chelsea.png"),
        "webp": save(CHELSEA, folder / "chelsea.webp", quality=92),
        "tiff": save(CHELSEA, folder / "chelsea.tiff"),
        "bmp": save(CHELSEA, folder / "chelsea.bmp"),
        "gif": gif,
        "heif": save(CHELSEA, folder / "chelsea.heic", quality=90),
        "avif": save(CHELSEA, folder / "chelsea.avif", quality=90),  # Pillow's own AVIF
        "jxl": save(CHELSEA, folder / "chelsea.jxl", quality=92),  # pillow-jxl-plugin
    }


# ---------------------------------------------------------------- formats


@pytest.mark.parametrize(
    "fmt", ["jpeg", "png", "webp", "tiff", "bmp", "gif", "heif", "avif", "jxl"]
)
def test_every_format_sniffs_and_decodes_to_the_photo(formats: dict[str, Path], fmt: str) -> None:
    path = formats[fmt]
    assert sniff_format(path) == fmt
    photo = decode_photo(path)
    assert photo.format == fmt
    assert (photo.width, photo.height) == (451, 300)
    assert photo.image.mode == "RGB" and photo.image.size == (451, 300)
    tolerance = {"gif": 25, "heif": 12, "avif": 12, "jxl": 12}.get(
        fmt, 6
    )  # GIF: 256 colours; lossless ones are exact
    assert mean_diff(photo.image, CHELSEA) < tolerance


def test_animated_gif_gives_its_first_frame(formats: dict[str, Path]) -> None:
    with Image.open(formats["gif"]) as gif:
        assert gif.n_frames == 3
    image = open_photo(formats["gif"])
    coffee = np.asarray(Image.fromarray(COFFEE).resize((451, 300)))
    assert mean_diff(image, CHELSEA) < 25 < mean_diff(image, coffee)


def test_content_decides_not_the_name(tmp_path: Path, formats: dict[str, Path]) -> None:
    misnamed = tmp_path / "really_a_png.jpg"
    misnamed.write_bytes(formats["png"].read_bytes())
    nameless = tmp_path / "IMG_0001"
    nameless.write_bytes(formats["jpeg"].read_bytes())
    assert decode_photo(misnamed).format == "png"
    assert decode_photo(nameless).format == "jpeg"


def test_sniff_tells_lookalikes_apart() -> None:
    assert sniff(b"BM is also how this sentence starts, and it is text") is None
    bmp_head = b"BM" + bytes(12) + struct.pack("<I", 40)
    assert sniff(bmp_head) == "bmp"
    heic = struct.pack(">I", 24) + b"ftypmif1" + bytes(4) + b"mif1heic"
    avif = struct.pack(">I", 24) + b"ftypmif1" + bytes(4) + b"mif1avif"
    video = struct.pack(">I", 20) + b"ftypisom" + bytes(4) + b"mp41"
    cr3 = struct.pack(">I", 24) + b"ftypcrx " + bytes(4) + b"crx isom"
    assert sniff(heic) == "heif"
    assert sniff(avif) == "avif"  # the same container, another codec
    assert sniff(video) is None
    assert sniff(cr3) == "raw"
    assert sniff(b"II*\x00\x08\x00\x00\x00", "photo.tif") == "tiff"
    assert sniff(b"II*\x00\x08\x00\x00\x00", "DSC_0001.NEF") == "raw"  # RAW: TIFF inside
    assert sniff(b"II*\x00\x10\x00\x00\x00CR\x02\x00", "x.tif") == "raw"  # Canon CR2


# ---------------------------------------------------------------- orientation

# What each EXIF orientation asks for, written with numpy (not Pillow) as an independent oracle.
ORIENTED = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: np.rot90(a[:, ::-1], 1),
    6: lambda a: np.rot90(a, -1),  # rotate 90° clockwise
    7: lambda a: np.rot90(a[:, ::-1], -1),
    8: lambda a: np.rot90(a, 1),
}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied_exactly(tmp_path: Path, orientation: int) -> None:
    pixels = CHELSEA[40:100, 150:240]  # (60, 90, 3): the cat's face, asymmetric
    path = save(pixels, tmp_path / "face.png", exif=exif_orientation(orientation))
    photo = decode_photo(path, min_side=None)
    expected = ORIENTED[orientation](pixels)
    assert (photo.height, photo.width) == expected.shape[:2]
    assert np.array_equal(np.asarray(photo.image), expected)


@pytest.mark.parametrize("suffix", [".jpg", ".webp", ".tiff", ".heic"])
def test_orientation_6_turns_a_landscape_photo_portrait(tmp_path: Path, suffix: str) -> None:
    path = save(CHELSEA, tmp_path / f"rotated{suffix}", exif=exif_orientation(6), quality=92)
    photo = decode_photo(path)
    assert (photo.width, photo.height) == (300, 451)
    assert photo.image.size == (300, 451)
    clockwise, anticlockwise = np.rot90(CHELSEA, -1), np.rot90(CHELSEA, 1)
    assert mean_diff(photo.image, clockwise) < 12 < mean_diff(photo.image, anticlockwise)


# ---------------------------------------------------------------- modes


def test_cmyk_jpeg_becomes_rgb_with_the_right_colours(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(CHELSEA).convert("CMYK").save(path, quality=95)
    with Image.open(path) as raw:
        assert raw.mode == "CMYK"
    image = open_photo(path)
    assert image.mode == "RGB"
    assert mean_diff(image, CHELSEA) < 8


def test_16_bit_grayscale_png_keeps_its_tones(tmp_path: Path) -> None:
    gray8 = np.asarray(Image.fromarray(CHELSEA).convert("L"))
    path = save(gray8.astype(np.uint16) * 257, tmp_path / "gray16.png")
    with Image.open(path) as raw:
        assert raw.mode == "I;16"  # Pillow's own convert("RGB") would clip this to white
    image = open_photo(path)
    assert image.mode == "RGB"
    assert mean_diff(image, np.stack([gray8] * 3, axis=-1)) < 1


def test_16_bit_rgb_png(tmp_path: Path) -> None:
    rgb16 = CHELSEA.astype(">u2") * 257  # big-endian samples, as PNG stores them
    rows = b"".join(b"\x00" + row.tobytes() for row in rgb16)  # filter type 0 per row
    path = png_file(tmp_path / "rgb16.png", 451, 300, 16, 2, zlib.compress(rows))
    image = open_photo(path)
    assert image.mode == "RGB"
    assert mean_diff(image, CHELSEA) < 1


def test_palette_png_transparency_is_composited_on_white(tmp_path: Path) -> None:
    palette = Image.fromarray(COFFEE).quantize(colors=255)
    pixels = np.asarray(palette).copy()
    pixels[:100, :100] = 255  # a free index, transparent below; its colour (black) must not show
    transparent = Image.fromarray(pixels, mode="P")
    transparent.putpalette(palette.getpalette()[: 255 * 3] + [0, 0, 0])
    path = tmp_path / "palette.png"
    transparent.save(path, transparency=255)
    image = np.asarray(open_photo(path, min_side=None))
    assert (image[:100, :100] == 255).all()
    opaque = np.asarray(palette.convert("RGB"))
    assert np.array_equal(image[100:], opaque[100:])


def test_rgba_alpha_is_composited_on_white(tmp_path: Path) -> None:
    rgba = np.dstack([CHELSEA, np.full(CHELSEA.shape[:2], 255, np.uint8)])
    rgba[:, :200, 3] = 0  # left part fully transparent
    rgba[:, 200:300, 3] = 128  # a half-transparent band
    image = np.asarray(open_photo(save(rgba, tmp_path / "alpha.png"), min_side=None), np.float32)
    assert (image[:, :200] == 255).all()
    half = (CHELSEA[:, 200:300].astype(np.float32) * 128 + 255 * 127) / 255
    assert np.abs(image[:, 200:300] - half).max() <= 1
    assert np.array_equal(image[:, 300:], CHELSEA[:, 300:])


# ---------------------------------------------------------------- reduced decoding


def test_jpeg_draft_decodes_reduced_but_never_below_min_side(tmp_path: Path) -> None:
    big = Image.fromarray(CHELSEA).resize((2000, 1500), Image.Resampling.BICUBIC)
    path = tmp_path / "big.jpg"
    big.save(path, quality=90)
    photo = decode_photo(path, min_side=224)
    assert (photo.width, photo.height) == (2000, 1500)  # the original size is still reported
    assert photo.image.size == (500, 375)  # libjpeg scaled 1/4 (1/8 would give 188 < 224)
    assert decode_photo(path, min_side=None).image.size == (2000, 1500)
    reference = np.asarray(big.resize((500, 375), Image.Resampling.BOX))
    assert mean_diff(photo.image, reference) < 6


def test_jpeg_draft_with_rotation_reports_the_turned_original_size(tmp_path: Path) -> None:
    path = tmp_path / "big_rotated.jpg"
    Image.fromarray(CHELSEA).resize((2000, 1500)).save(path, exif=exif_orientation(6))
    photo = decode_photo(path)
    assert (photo.width, photo.height) == (1500, 2000)
    assert photo.image.size == (375, 500)


def test_other_formats_are_reduced_after_decoding(tmp_path: Path) -> None:
    path = save(np.asarray(Image.fromarray(COFFEE).resize((1000, 700))), tmp_path / "big.png")
    image = open_photo(path, min_side=224)
    assert image.size == (334, 234)  # reduced by 3: both sides still ≥ 224


def test_a_narrow_panorama_is_not_reduced_below_min_side(tmp_path: Path) -> None:
    path = tmp_path / "panorama.jpg"
    Image.fromarray(CHELSEA).resize((3000, 250)).save(path)
    assert open_photo(path, min_side=224).size == (3000, 250)


# ---------------------------------------------------------------- decompression bombs


def test_decompression_bomb_is_refused_from_its_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bomb = bomb_png(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 200

    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    started = time.perf_counter()
    with pytest.raises(ImageError, match="too large: 30000×30000") as caught:
        open_photo(bomb)
    assert time.perf_counter() - started < 1
    assert "decompression bomb" in caught.value.message
    assert caught.value.path == bomb


def test_own_pixel_limit_applies_below_pillows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit_before = Image.MAX_IMAGE_PIXELS
    big = bomb_png(tmp_path / "big.png", 5000, 4000)
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("decoded"))
    with pytest.raises(ImageError, match="too large: 5000×4000"):
        open_photo(big, max_pixels=10_000_000)
    assert limit_before == Image.MAX_IMAGE_PIXELS  # the process-wide setting is left alone


def test_a_large_photo_under_the_limit_opens(tmp_path: Path) -> None:
    path = tmp_path / "ok.jpg"
    Image.fromarray(CHELSEA).resize((4000, 3000)).save(path)
    assert open_photo(path, max_pixels=12_000_000).size == (500, 375)


# ---------------------------------------------------------------- broken files


def expect_error(path: Path, pattern: str) -> ImageError:
    with pytest.raises(ImageError) as caught:
        call_with_timeout(lambda: open_photo(path))
    assert re.search(pattern, caught.value.message), caught.value.message
    assert caught.value.path == path
    return caught.value


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.touch()
    assert expect_error(path, r"^empty file \(0 bytes\)$").hint


def test_truncated_jpeg(tmp_path: Path, formats: dict[str, Path]) -> None:
    path = truncated(tmp_path / "cut.jpg", formats["jpeg"].read_bytes())
    expect_error(path, r"^truncated JPEG")


def test_corrupt_png(tmp_path: Path, formats: dict[str, Path]) -> None:
    whole = bytearray(formats["png"].read_bytes())
    whole[200:400] = bytes(200)  # zeros over compressed data
    path = tmp_path / "corrupt.png"
    path.write_bytes(bytes(whole))
    expect_error(path, r"^(corrupt|truncated) PNG")


def test_text_file_named_jpg(tmp_path: Path) -> None:
    path = tmp_path / "holiday.jpg"
    path.write_text("Shopping list: eggs, milk, film for the camera\n")
    error = expect_error(path, r"^not an image: the content is text although the name says \.jpg$")
    assert sniff_format(path) is None
    assert error.hint


def test_unsupported_image_format_is_named(tmp_path: Path) -> None:
    path = tmp_path / "photo.jp2"
    path.write_bytes(b"\x00\x00\x00\x0cjP  \r\n\x87\n" + bytes(64))
    expect_error(path, r"^unsupported format: a JPEG 2000 image$")


def test_damaged_avif_says_so(tmp_path: Path) -> None:
    path = tmp_path / "photo.avif"
    path.write_bytes(struct.pack(">I", 28) + b"ftypavif" + bytes(4) + b"avifmif1miaf" + bytes(64))
    expect_error(path, r"^corrupt AVIF data")


def test_missing_file(tmp_path: Path) -> None:
    expect_error(tmp_path / "gone.jpg", r"^file not found$")


def test_folder_named_like_a_photo(tmp_path: Path) -> None:
    path = tmp_path / "x.jpg"
    path.mkdir()
    expect_error(path, r"^is a folder, not a photo$")


def test_fifo_named_like_a_photo_does_not_hang(tmp_path: Path) -> None:
    path = tmp_path / "pipe.jpg"
    os.mkfifo(path)
    expect_error(path, r"^not a regular file \(a FIFO\)")


def test_unreadable_file_says_permission_denied(tmp_path: Path, formats: dict[str, Path]) -> None:
    path = tmp_path / "locked.jpg"
    path.write_bytes(formats["jpeg"].read_bytes())
    path.chmod(0)
    with pytest.raises(ImageError) as caught:
        without_file_permission_override(lambda: open_photo(path))
    assert caught.value.message == "permission denied"
    assert "chmod" in caught.value.hint
    path.chmod(0o644)
    assert open_photo(path).size == (451, 300)  # the same file, readable, is fine


def test_unicode_and_spaces_in_names(tmp_path: Path, formats: dict[str, Path]) -> None:
    path = tmp_path / "Ünïcødé  猫 ph🙂to (1) .jpg"
    path.write_bytes(formats["jpeg"].read_bytes())
    assert open_photo(path).size == (451, 300)


# ---------------------------------------------------------------- discovery


@pytest.fixture()
def library(tmp_path: Path, formats: dict[str, Path]) -> Path:
    """A photo folder with everything discovery must find or skip."""
    root = tmp_path / "Pictures"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".thumbnails").mkdir()
    (root / "album.jpg").mkdir()  # a folder named like a photo: walked, not opened
    jpeg, png = formats["jpeg"].read_bytes(), formats["png"].read_bytes()
    files = {
        "a.jpg": jpeg,
        "b photo with  spaces .png": png,
        "Ünïcødé 猫 ph🙂to.webp": formats["webp"].read_bytes(),
        "IMG_0002": jpeg,  # no extension: found by content
        "notes.txt": b"not a photo\n",
        "fake.jpg": b"not a photo either\n",  # named like one: kept, so decoding reports it
        "empty.jpg": b"",
        "empty.dat": b"",
        "a.jpg.xmp": b"<x:xmpmeta xmlns:x='adobe:ns:meta/'></x:xmpmeta>",
        "a.jpg.photocap-12ab.tmp": jpeg,  # photocap's temp file (even not hidden)
        ".a.jpg.photocap-34cd.tmp": jpeg,
        ".hidden.jpg": jpeg,
        ".thumbnails/t.jpg": jpeg,
        "DSC_0001.NEF": formats["tiff"].read_bytes(),  # TIFF inside, but RAW
        "album.jpg/inner.png": png,
        "sub/c.tif": formats["tiff"].read_bytes(),
        "sub/deeper/d.heic": formats["heif"].read_bytes(),
    }
    for name, content in files.items():
        (root / name).write_bytes(content)
    os.symlink(root / "a.jpg", root / "link to a.jpg")  # a symlink to a file is followed
    os.symlink(root / "missing.jpg", root / "dangling.jpg")
    os.symlink(root, root / "sub" / "loop")  # back to the top: a loop
    os.symlink(".", root / "sub" / "deeper" / "self")
    os.symlink("self-loop.jpg", root / "self-loop.jpg")  # ELOOP when followed
    os.mkfifo(root / "pipe.jpg")
    return root


EXPECTED = [
    "DSC_0001.NEF",
    "IMG_0002",
    "a.jpg",
    "album.jpg/inner.png",
    "b photo with  spaces .png",
    "empty.jpg",
    "fake.jpg",
    "link to a.jpg",
    "sub/c.tif",
    "sub/deeper/d.heic",
    "Ünïcødé 猫 ph🙂to.webp",
]


def test_discover_finds_photos_by_content_and_skips_the_rest(library: Path) -> None:
    found = call_with_timeout(lambda: list(discover([library])))
    assert found == [library / name for name in EXPECTED]
    assert all(path.is_absolute() for path in found)


def test_discover_without_suspects_keeps_only_real_images(library: Path) -> None:
    found = list(discover([library], include_suspects=False))
    assert found == [library / n for n in EXPECTED if n not in ("empty.jpg", "fake.jpg")]


def test_discover_every_found_photo_decodes_or_says_why(library: Path) -> None:
    reasons = {}
    for path in discover(library):
        try:
            open_photo(path)
        except ImageError as exc:
            reasons[path.name] = exc.message
    assert reasons == {
        "DSC_0001.NEF": (  # a plain TIFF named as a RAW
            "unsupported or damaged camera RAW file (LibRaw: Unsupported file format or not RAW file)"
        ),
        "empty.jpg": "empty file (0 bytes)",
        "fake.jpg": "not an image: the content is text although the name says .jpg",
    }


def test_discover_from_inside_a_loop_terminates_without_duplicates(library: Path) -> None:
    found = call_with_timeout(lambda: list(discover([library / "sub", library, library / "sub"])))
    assert len(found) == len(set(found)) == len(EXPECTED)
    assert found[0] == library / "sub" / "c.tif"  # the first root's own files come first


def test_discover_relative_paths_and_files_named_directly(
    library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(library)
    named = ["a.jpg", "notes.txt", "a.jpg.xmp", "a.jpg", ".hidden.jpg"]
    assert list(discover(named)) == [
        library / "a.jpg",
        library / "notes.txt",
        library / ".hidden.jpg",
    ]


def test_discover_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such file or folder"):
        list(discover([tmp_path / "nowhere"]))


def test_discover_reports_an_unlistable_folder_and_goes_on(library: Path) -> None:
    locked = library / "sub" / "deeper"
    locked.chmod(0)
    errors: list[ImageError] = []
    try:
        found = without_file_permission_override(
            lambda: list(discover(library, on_error=errors.append))
        )
    finally:
        locked.chmod(0o755)
    assert found == [library / n for n in EXPECTED if n != "sub/deeper/d.heic"]
    assert [(e.path, e.message) for e in errors] == [
        (locked, "cannot list folder: permission denied")
    ]


def test_discover_keeps_an_unreadable_photo_so_decoding_reports_it(library: Path) -> None:
    (library / "a.jpg").chmod(0)

    def discover_and_open() -> list[str]:
        messages = []
        for path in discover(library):
            try:
                open_photo(path)
            except ImageError as exc:
                messages.append(f"{path.name}: {exc.message}")
        return messages

    messages = without_file_permission_override(discover_and_open)
    assert "a.jpg: permission denied" in messages
    assert "link to a.jpg: permission denied" in messages


def test_discover_keeps_known_files_without_opening_them(
    library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from photocap.photos import kinds

    opened: list[str] = []
    read_head = kinds.read_head
    monkeypatch.setattr(
        kinds, "read_head", lambda path: opened.append(path.name) or read_head(path)
    )
    sizes: dict[str, int] = {}

    def known(path: str, st: os.stat_result) -> bool:  # e.g. "indexed with this size and mtime"
        sizes[os.path.basename(path)] = st.st_size
        return path.endswith(("a.jpg", "notes.txt"))

    found = list(discover(library, known=known))
    assert library / "notes.txt" in found  # text, but the caller vouches for it
    assert "a.jpg" not in opened and "notes.txt" not in opened
    assert "IMG_0002" in opened  # unknown files are still judged by content
    assert sizes["a.jpg"] == (library / "a.jpg").stat().st_size
