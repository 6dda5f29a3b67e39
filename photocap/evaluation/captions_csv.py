"""The one reader of caption CSVs (`photocap train` and `photocap evaluate`): `image,caption` rows,
read strictly, with CSV line numbers in every message.

The header may name the columns in any order and case, by any of `IMAGE_COLUMNS` and
`CAPTION_COLUMNS` (other columns are ignored); without a header the first two columns are image
and caption. Rows are grouped by image (several captions per image allowed). Rows that cannot be
used (an empty caption, an empty image cell) are kept as `Problem`s for the caller to report, or
refused with `strict`. Structural errors (no usable columns, not UTF-8) always raise DataError.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from photocap.errors import DataError
from photocap.model.vocab import tokenize

IMAGE_COLUMNS = ("image", "file", "filename", "path", "photo")
CAPTION_COLUMNS = ("caption", "text", "description", "alt", "alt_text")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Problem:
    """A row or an image that was left out, and why."""

    line: int  # CSV line where the row (or the image's first row) starts
    image: str  # the image cell as written
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.image or '(no image)'}: {self.reason}"


@dataclass
class UserCaptions:
    """A caption CSV's captions grouped by image, in the CSV's order of first appearance."""

    source: Path
    images: list[Path]  # resolved paths, one per distinct image cell
    names: list[str]  # the image cells as written
    captions: list[list[str]]  # captions of each image
    lines: list[list[int]]  # CSV line of each caption
    skipped: list[Problem] = field(default_factory=list)  # rows left out

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, keep: list[int]) -> UserCaptions:
        """The images at `keep`, in that order; `skipped` is carried over."""
        return UserCaptions(
            self.source,
            [self.images[i] for i in keep],
            [self.names[i] for i in keep],
            [self.captions[i] for i in keep],
            [self.lines[i] for i in keep],
            list(self.skipped),
        )


def _decode(raw: bytes, path: Path) -> str:
    """UTF-8 text without a BOM; a non-UTF-8 file names the line of its first bad byte."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"line {line}: the file is not UTF-8 (byte 0x{raw[exc.start]:02x})",
            path=path,
            hint="save it as 'CSV UTF-8' (in LibreOffice/Excel: Save As → CSV UTF-8)",
        ) from None
    return text.removeprefix("\ufeff")


def _find_column(cells: list[str], names: tuple[str, ...]) -> int | None:
    for i, cell in enumerate(cells):
        if cell in names:
            return i
    return None


def _columns(first: list[str], path: Path) -> tuple[int, int, bool]:
    """(image column, caption column, first row is a header)."""
    cells = [c.strip().lower().lstrip("\ufeff") for c in first]
    image, caption = _find_column(cells, IMAGE_COLUMNS), _find_column(cells, CAPTION_COLUMNS)
    if image is None and caption is None:  # no header: image,caption by position
        if len(first) < 2:
            raise DataError(
                "line 1: missing columns: expected image,caption (one row per caption)",
                path=path,
                hint="add a header row 'image,caption'",
            )
        return 0, 1, False
    if image is None or caption is None:
        missing = "image" if image is None else "caption"
        raise DataError(
            f"line 1: the header has no {missing!r} column (columns: {', '.join(first)})",
            path=path,
            hint="the header needs the columns image,caption; other columns are ignored",
        )
    return image, caption, True


def _rows(text: str, path: Path):
    """(starting line, cells) of each record; quoted fields may span lines."""
    reader = csv.reader(io.StringIO(text, newline=""))
    line = 1
    try:
        for cells in reader:
            yield line, cells
            line = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"line {reader.line_num}: malformed CSV ({exc})", path=path) from None


def read_caption_csv(
    path: str | Path, images_dir: str | Path | None = None, strict: bool = False
) -> UserCaptions:
    """Read `image,caption` rows; image paths are relative to the CSV's folder unless `images_dir`.

    Blank lines are ignored. A row with an empty image cell or a caption without words is left
    out (a Problem in `skipped`), or raises DataError with `strict`.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError("captions file not found", path=path) from None
    except IsADirectoryError:
        raise DataError("expected a CSV file, got a folder", path=path) from None
    rows = _rows(_decode(raw, path), path)
    base = Path(images_dir) if images_dir is not None else path.parent
    first = next(((n, c) for n, c in rows if any(x.strip() for x in c)), None)
    if first is None:
        raise DataError("the captions file is empty", path=path)
    image_col, caption_col, header = _columns(first[1], path)
    records = rows if header else _chain(first, rows)

    index: dict[str, int] = {}
    data = UserCaptions(path, [], [], [], [])
    for line, cells in records:
        if not any(c.strip() for c in cells):
            continue
        if len(cells) <= max(image_col, caption_col):
            raise DataError(
                f"line {line}: missing columns: {len(cells)} field(s), "
                f"needs image and caption (columns {image_col + 1} and {caption_col + 1})",
                path=path,
            )
        name = cells[image_col].strip()
        caption = _SPACE.sub(" ", cells[caption_col]).strip()
        reason = (
            "empty image cell" if not name else "empty caption" if not tokenize(caption) else None
        )
        if reason:
            if strict:
                raise DataError(f"line {line}: {reason}", path=path)
            data.skipped.append(Problem(line, name, reason))
            continue
        if name not in index:
            index[name] = len(data.images)
            data.images.append(base / name)
            data.names.append(name)
            data.captions.append([])
            data.lines.append([])
        data.captions[index[name]].append(caption)
        data.lines[index[name]].append(line)
    if not data.images:
        raise DataError("no usable caption rows", path=path)
    return data


def _chain(first, rest):
    yield first
    yield from rest


def read_references(
    csv_path: Path, images_dir: Path, split: Path | None = None
) -> tuple[list[Path], list[list[str]]]:
    """Reference captions of a caption CSV (`read_caption_csv`), grouped by image and sorted by
    name, or limited to and in the order of a split file (one image name a line)."""
    data = read_caption_csv(csv_path, images_dir)
    grouped = dict(zip(data.names, data.captions, strict=True))
    names = sorted(grouped)
    if split is not None:
        try:
            wanted = split.read_text(encoding="utf-8").split()
        except FileNotFoundError:
            raise DataError("split file not found", path=split) from None
        missing = [n for n in wanted if n not in grouped]
        if missing:
            raise DataError(
                f"{len(missing)} images of the split have no caption, e.g. {missing[0]}", path=split
            )
        names = wanted
    if not names:
        raise DataError("no captions found", path=csv_path)
    return [images_dir / n for n in names], [grouped[n] for n in names]
