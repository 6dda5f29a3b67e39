"""Helpers for the metadata tests: real photos with rich metadata (made with ExifTool), and ExifTool
as the independent reader."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from dataclasses import dataclass
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


@dataclass
class Original:
    """A rich photo as made (see `rich_photo`), and what ExifTool read from it then."""

    path: Path
    tags: dict[str, object]
    warnings: set[str]


XMP_TEMPLATE = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
    xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"
    xmp:Rating="4" xmp:Label="Red">
   <!-- written by a person in a photo manager -->
   <dc:subject><rdf:Bag><rdf:li>cat</rdf:li><rdf:li>Zürich</rdf:li></rdf:Bag></dc:subject>
   <lr:hierarchicalSubject><rdf:Bag><rdf:li>Animals|Cat</rdf:li></rdf:Bag></lr:hierarchicalSubject>
   {body}
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def lang_alt(prop: str, text: str, extra_items: str = "") -> str:
    return f'<{prop}><rdf:Alt><rdf:li xml:lang="x-default">{text}</rdf:li>{extra_items}</rdf:Alt></{prop}>'


def xmp_packet(body: str = "") -> bytes:
    return XMP_TEMPLATE.format(body=body).encode()


def big_xmp(n_keywords: int) -> bytes:
    """An XMP packet with `n_keywords` long keywords and 100 document ancestors."""
    items = "".join(
        f"<rdf:li>keyword number {i:05d} with some padding text</rdf:li>" for i in range(n_keywords)
    )
    ancestors = "".join(f"<rdf:li>xmp.did:{i:032X}</rdf:li>" for i in range(100))
    body = (
        f"<photoshop:DocumentAncestors><rdf:Bag>{ancestors}</rdf:Bag></photoshop:DocumentAncestors>"
    )
    packet = xmp_packet(body).decode()
    packet = packet.replace("<rdf:li>cat</rdf:li><rdf:li>Zürich</rdf:li>", items)
    assert packet.count("<dc:subject>") == 1 and "Zürich" not in packet
    return packet.encode()


# ExifTool groups (family 1) that describe the file, not its metadata.
VOLATILE_GROUPS = {"System", "ExifTool", "Composite", "File"}
CAPTION_TAGS = {
    "XMP:XMP-iptcCore:AltTextAccessibility",
    "XMP:XMP-dc:Description",
    "EXIF:IFD0:ImageDescription",
}


def read_tags(*paths: Path) -> list[dict[str, object]]:
    """Every tag ExifTool reads in each file (binary values too, base64), keyed `Group0:Group1:Name`."""
    out = json.loads(exiftool("-j", "-a", "-G0:1", "-b", "-n", "-struct", *paths))
    by_file = {Path(t.pop("SourceFile")): t for t in out}
    return [
        {k: v for k, v in by_file[Path(p)].items() if not set(k.split(":")[:-1]) & VOLATILE_GROUPS}
        for p in paths
    ]


def changed_tags(before: dict[str, object], after: dict[str, object]) -> set[str]:
    """Tags added, removed or changed, photocap's own provenance namespace aside."""
    keys = before.keys() | after.keys()
    return {k for k in keys if before.get(k) != after.get(k) and ":XMP-photocap:" not in f"{k}:"}


# Tags the EXIF standard requires beside ImageDescription; added (as ExifTool does) when a photo had no EXIF.
FRESH_EXIF_TAGS = {
    f"EXIF:IFD0:{name}"
    for name in ("XResolution", "YResolution", "ResolutionUnit", "YCbCrPositioning")
}


def captions(tags: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in tags.items() if k in CAPTION_TAGS}


def validation_warnings(*paths: Path) -> list[set[str]]:
    """ExifTool's `-validate -warning` messages for each file."""
    out = exiftool("-validate", "-warning", "-a", "-s3", *paths)
    found: dict[str, set[str]] = {}
    current = str(paths[0])
    for line in out.splitlines():
        if line.startswith("======== "):
            current = line[9:]
        elif line.strip() and not re.match(r"^\s+\d+ (image )?files? read|^\d+ Warning|^OK$", line):
            found.setdefault(current, set()).add(line.strip())
    return [found.get(str(p), set()) for p in paths]


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
