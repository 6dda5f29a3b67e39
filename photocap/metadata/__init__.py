"""Read and write captions as accessibility alt text in photos (XMP, EXIF) or XMP sidecars.

Fields written, the same text in each: XMP `Iptc4xmpCore:AltTextAccessibility` and `dc:description`
(lang-alt, `x-default`), and EXIF `ImageDescription` in JPEG and WebP. photocap's own XMP namespace
records the caption it wrote, the model id, its version and the time, so a caption photocap wrote is
told from one a person wrote. Keywords (XMP `dc:subject`) photocap adds are merged with a person's
and recorded the same way, so a rewrite replaces only photocap's. Writes are atomic and never re-encode or drop anything else.
"""

from photocap.metadata.api import (
    WriteResult,
    read_caption,
    read_keywords,
    withdraw_caption,
    write_caption,
    write_keywords,
)
from photocap.metadata.atomic import remove_stale_temp_files
from photocap.metadata.keywords import KeywordsRecord
from photocap.metadata.policy import WRITE_MODES, CaptionRecord, WriteMode
from photocap.metadata.sidecars import (
    photos_of_sidecars,
    sidecar_candidates,
    sidecar_path,
    sidecars_mtime_ns,
)
from photocap.metadata.xmp import NS_PHOTOCAP

__all__ = [
    "NS_PHOTOCAP",
    "WRITE_MODES",
    "CaptionRecord",
    "KeywordsRecord",
    "WriteMode",
    "WriteResult",
    "photos_of_sidecars",
    "read_caption",
    "read_keywords",
    "remove_stale_temp_files",
    "sidecar_candidates",
    "sidecar_path",
    "sidecars_mtime_ns",
    "withdraw_caption",
    "write_caption",
    "write_keywords",
]
