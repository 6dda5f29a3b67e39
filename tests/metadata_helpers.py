"""Helpers for the metadata tests: real photos with rich metadata (made with ExifTool), and ExifTool
as the independent reader."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import piexif
import pytest
from PIL import Image, ImageCms

EXIFTOOL = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(
    EXIFTOOL is None,
    reason="exiftool not on PATH (Debian package libimage-exiftool-perl; .ci/run installs it)",
)

FORMATS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "tiff": ".tif", "heic": ".heic"}
PILLOW_FORMAT = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "tiff": "TIFF", "heic": "HEIF"}

KEYWORDS = ["cat", "Zürich", "猫"]
HIERARCHY = ["Animals|Cat", "Places|Switzerland|Zürich"]


def photo_array(name: str = "chelsea") -> np.ndarray:
    from skimage import data

    return getattr(data, name)()


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def save_photo(path: Path, fmt: str, *, name: str = "chelsea", icc: bool = True, **options) -> Path:
    """Save one of scikit-image's real photos with Pillow (HEIC through pillow-heif)."""
    if fmt == "heic":
        import pillow_heif

        pillow_heif.register_heif_opener()
    im = Image.fromarray(photo_array(name))
    if icc:
        options.setdefault("icc_profile", srgb_icc())
    if fmt == "jpeg":
        options.setdefault("quality", 90)
    if fmt == "heic":
        options.setdefault("quality", 70)
    im.save(path, PILLOW_FORMAT[fmt], **options)
    return path


def canon_exif(orientation: int = 6) -> bytes:
    """An EXIF block with Make/Model, orientation and Canon-style maker notes whose values sit at
    absolute offsets (the kind that break when an EXIF block is re-serialised)."""
    entries = [(0x0006, b"IMG:EOS 5D JPEG\x00"), (0x0009, b"Jane Doe Photography\x00")]
    table_size = 2 + 12 * len(entries) + 4

    def note(base: int) -> bytes:
        head, data, offset = struct.pack(">H", len(entries)), b"", base + table_size
        for tag, value in entries:
            head += struct.pack(">HHII", tag, 2, len(value), offset + len(data))
            data += value
        return head + struct.pack(">I", 0) + data

    placeholder = note(0)
    block = piexif.dump(
        {
            "0th": {
                piexif.ImageIFD.Make: b"Canon",
                piexif.ImageIFD.Model: b"Canon EOS 5D",
                piexif.ImageIFD.Orientation: orientation,
                piexif.ImageIFD.XResolution: (72, 1),
                piexif.ImageIFD.YResolution: (72, 1),
                piexif.ImageIFD.ResolutionUnit: 2,
                piexif.ImageIFD.YCbCrPositioning: 1,
            },
            "Exif": {
                piexif.ExifIFD.ExifVersion: b"0232",
                piexif.ExifIFD.DateTimeOriginal: b"2021:07:04 10:30:00",
                piexif.ExifIFD.ComponentsConfiguration: b"\x01\x02\x03\x00",
                piexif.ExifIFD.FlashpixVersion: b"0100",
                piexif.ExifIFD.ColorSpace: 1,
                piexif.ExifIFD.MakerNote: placeholder,
            },
        }
    )
    at = block.index(placeholder) - 6  # offsets count from the TIFF header, after "Exif\0\0"
    return block.replace(placeholder, note(at))


def exiftool(*args: str | Path) -> str:
    done = subprocess.run(
        [EXIFTOOL, "-charset", "filename=utf8", *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )
    if done.returncode != 0 and not done.stdout:
        raise AssertionError(f"exiftool {args} failed: {done.stderr}")
    return done.stdout


def exiftool_write(path: Path, *assignments: str) -> None:
    exiftool("-q", "-q", "-overwrite_original", "-m", *assignments, path)


def add_rich_metadata(path: Path, fmt: str) -> Path:
    """GPS, orientation, camera, IPTC (JPEG/TIFF) and Lightroom-style XMP keywords, via ExifTool."""
    tags = [
        "-GPSLatitude=47.3769",
        "-GPSLatitudeRef=N",
        "-GPSLongitude=8.5417",
        "-GPSLongitudeRef=E",
        "-GPSAltitude=408",
        "-EXIF:Artist=Jane Doe",
        "-EXIF:Copyright=© 2021 Jane Doe",
        "-XMP-dc:Creator=Jane Doe",
        "-XMP-xmp:Rating=4",
        "-XMP-photoshop:City=Zürich",
        *(f"-XMP-dc:Subject={k}" for k in KEYWORDS),
        *(f"-XMP-lr:HierarchicalSubject={h}" for h in HIERARCHY),
    ]
    if fmt != "jpeg":  # the JPEG gets these (and maker notes) from its EXIF block
        tags += ["-EXIF:Orientation#=6", "-EXIF:Make=Canon", "-EXIF:Model=Canon EOS 5D"]
    if fmt in ("jpeg", "tiff"):
        tags += [
            "-IPTC:Keywords=cat",
            "-IPTC:Keywords=Zürich",
            "-IPTC:City=Zürich",
            "-IPTC:By-line=Jane Doe",
        ]
        tags += ["-IPTC:CodedCharacterSet=UTF8"]
    exiftool_write(path, *tags)
    return path


def rich_photo(folder: Path, fmt: str, name: str = "chelsea") -> Path:
    """A real photo in `fmt` with rich metadata, as a camera and Lightroom would leave it."""
    path = folder / f"{name}{FORMATS[fmt]}"
    extra = {"exif": canon_exif()} if fmt == "jpeg" else {}
    save_photo(path, fmt, name=name, **extra)
    return add_rich_metadata(path, fmt)


# Tags that legitimately differ after photocap writes a caption.
VOLATILE_GROUPS = {"System", "ExifTool", "Composite", "XMP-photocap", "File"}
CAPTION_TAGS = {"XMP-iptcCore:AltTextAccessibility", "XMP-dc:Description", "IFD0:ImageDescription"}


def all_tags(path: Path) -> dict[str, object]:
    """Every tag ExifTool reads (binary values included, base64), keyed `Group1:Name`."""
    [tags] = json.loads(exiftool("-j", "-a", "-G1", "-b", "-n", "-struct", path))
    return {
        k: v
        for k, v in tags.items()
        if k.split(":")[0] not in VOLATILE_GROUPS and k != "SourceFile"
    }


def caption_tags(path: Path) -> dict[str, str]:
    [tags] = json.loads(
        exiftool(
            "-j",
            "-G0:1",
            "-XMP-iptcCore:AltTextAccessibility",
            "-XMP-dc:Description",
            "-EXIF:ImageDescription",
            path,
        )
    )
    return {k: v for k, v in tags.items() if k != "SourceFile"}


def validation_warnings(path: Path) -> set[str]:
    """ExifTool's -validate warnings (the messages, without the count line)."""
    out = exiftool("-validate", "-warning", "-a", "-s", "-s", "-s", path)
    lines = {line.strip() for line in out.splitlines() if line.strip()}
    return {line for line in lines if line != "OK" and not line[0].isdigit()}


def pixels(path: Path) -> np.ndarray:
    if path.suffix.lower() in (".heic", ".heif"):
        import pillow_heif

        pillow_heif.register_heif_opener()
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


def jpeg_scan_data(data: bytes) -> bytes:
    """Everything from the first SOS marker on: the entropy-coded image data."""
    pos = 2
    while True:
        while data[pos] == 0xFF and data[pos + 1] == 0xFF:
            pos += 1
        marker = data[pos + 1]
        if marker == 0xDA:
            return data[pos:]
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        pos += 2 + length


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of each header segment before SOS."""
    out, pos = [], 2
    while data[pos + 1] != 0xDA:
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        out.append((data[pos + 1], data[pos + 4 : pos + 2 + length]))
        pos += 2 + length
    return out
