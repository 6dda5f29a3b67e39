"""Helpers for the tests that build odd photo files (test_photos, test_loader, test_indexing):
EXIF orientation, hand-written PNGs (decompression bombs, bit depths Pillow cannot save), truncated
copies, and running code where root cannot read a chmod 000 file."""

from __future__ import annotations

import ctypes
import os
import struct
import threading
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image


def exif_orientation(value: int) -> bytes:
    """EXIF holding only this orientation (1-8), for `Image.save(..., exif=...)`."""
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = struct.pack(">I", zlib.crc32(kind + payload))
    return struct.pack(">I", len(payload)) + kind + payload + crc


def png_file(path: Path, width: int, height: int, depth: int, color: int, idat: bytes) -> Path:
    """A PNG written by hand: lets the header claim any size, or a bit depth Pillow cannot save."""
    header = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )
    return path


def bomb_png(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """An RGB PNG whose header claims width × height (by default 2.7 gigabytes of pixels), with
    next to no data."""
    return png_file(path, width, height, 8, 2, zlib.compress(bytes(1000)))


def truncated(path: Path, whole: bytes) -> Path:
    """`path` holding the first half of `whole` (a photo cut off while copying)."""
    path.write_bytes(whole[: len(whole) // 2])
    return path


def without_file_permission_override(fn: Callable[[], object]) -> object:
    """Run `fn` where the kernel enforces file permissions, even for root.

    As root, chmod 000 still reads (CAP_DAC_OVERRIDE). Linux capabilities are per thread, so a
    helper thread drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from its own effective set and
    calls `fn`; the rest of the test process keeps them, while processes the thread forks
    (DataLoader workers) inherit the thread's. Returns fn's result or raises its error.
    """
    if os.geteuid() != 0:
        return fn()

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [(name, ctypes.c_uint32) for name in ("effective", "permitted", "inheritable")]

    libc = ctypes.CDLL(None, use_errno=True)
    outcome: dict[str, object] = {}

    def drop_then_call() -> None:
        header, caps = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3
        if libc.capget(ctypes.byref(header), caps) != 0:
            outcome["skip"] = f"capget failed: {os.strerror(ctypes.get_errno())}"
            return
        caps[0].effective &= ~((1 << 1) | (1 << 2))  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.capset(ctypes.byref(header), caps) != 0:
            outcome["skip"] = f"capset failed: {os.strerror(ctypes.get_errno())}"
            return
        try:
            outcome["result"] = fn()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=drop_then_call)
    thread.start()
    thread.join()
    if "skip" in outcome:
        pytest.skip(f"cannot drop root's file-permission override here: {outcome['skip']}")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]
