"""Keywords in XMP dc:subject: photocap's merged with a person's, replaced on rewrite, read by ExifTool."""

from __future__ import annotations

from pathlib import Path

import pytest
from metadata_helpers import (
    CAPTION_TAGS,
    FRESH_EXIF_TAGS,
    KEYWORDS,
    changed_tags,
    exiftool,
    exiftool_write,
    needs_exiftool,
    read_tags,
    save_photo,
    validation_warnings,
)

from photocap.errors import MetadataError
from photocap.metadata import (
    KeywordsRecord,
    read_caption,
    read_keywords,
    sidecar_path,
    write_caption,
    write_keywords,
)

pytestmark = needs_exiftool

MODEL = "photocap-lite2-flickr8k@test"
SUBJECT = "XMP:XMP-dc:Subject"
OURS = "XMP:XMP-photocap:Keywords"


def subject(path: Path) -> list[str]:
    """dc:subject as ExifTool reads it (a one-item list comes back as a plain string)."""
    value = read_tags(path)[0].get(SUBJECT, [])
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize(
    "fmt, mode, where",
    [
        ("jpeg", "auto", "embedded"),
        ("png", "embed", "embedded"),
        ("webp", "embed", "embedded"),
        ("jpeg", "sidecar", "sidecar"),
        ("tiff", "auto", "sidecar"),
    ],
)
def test_human_keywords_survive_a_write_and_a_rewrite_that_replaces_ours(
    rich, fmt: str, mode: str, where: str
):
    path, original = rich(fmt)
    warnings = original.warnings
    assert original.tags[SUBJECT] == KEYWORDS
    target = path if where == "embedded" else sidecar_path(path)

    result = write_caption(
        path, "A cat.", model_id=MODEL, mode=mode, keywords=["tabby", "Cat", "pet"]
    )
    assert (result.where, result.target) == (where, target)
    # "Cat" is a person's already ("cat"): never added twice, in any letter case
    first = ["tabby", "pet"]
    assert subject(target) == (KEYWORDS + first if where == "embedded" else first)
    assert read_tags(target)[0][OURS] == first
    assert read_keywords(path) == KeywordsRecord((*KEYWORDS, *first), tuple(first))

    result = write_caption(
        path, "A dog.", model_id=MODEL, mode=mode, overwrite=True, keywords=["dog", "pet"]
    )
    # ours replaced ("tabby" goes, "pet" stays where it was, "dog" comes), the person's untouched
    again = ["pet", "dog"]
    assert subject(target) == (KEYWORDS + again if where == "embedded" else again)
    assert read_keywords(path).human == tuple(KEYWORDS)
    photo_tags = read_tags(path)[0]
    assert photo_tags[SUBJECT] == KEYWORDS + (again if where == "embedded" else [])
    allowed = CAPTION_TAGS | ({SUBJECT} if where == "embedded" else set())
    assert changed_tags(original.tags, photo_tags) <= allowed
    assert validation_warnings(target)[0] <= (warnings if where == "embedded" else set())


def test_keywords_a_person_adds_between_runs_are_kept(rich):
    path, original = rich("jpeg")
    write_caption(path, "A cat.", model_id=MODEL, keywords=["tabby", "cat", "pet"])
    exiftool_write(path, "-XMP-dc:Subject+=Mimi", "-XMP-dc:Subject+=holiday 2021")
    before = read_tags(path)[0]

    write_keywords(path, ["Egyptian cat", "pet"])

    after = read_tags(path)[0]
    assert after[SUBJECT] == [*KEYWORDS, "pet", "Mimi", "holiday 2021", "Egyptian cat"]
    assert after[OURS] == ["Egyptian cat", "pet"]
    assert changed_tags(before, after) == {SUBJECT}  # the caption was left alone
    assert read_caption(path).text == "A cat."
    assert after["IPTC:Keywords"] == original.tags["IPTC:Keywords"]  # IPTC-IIM is a person's field


def test_no_keywords_leaves_them_alone_and_an_empty_list_removes_ours(rich):
    path, _ = rich("webp")
    write_caption(path, "A cat.", model_id=MODEL, mode="embed", keywords=["tabby"])
    write_caption(path, "A cat on a mat.", model_id=MODEL, mode="embed", overwrite=True)
    assert subject(path) == [*KEYWORDS, "tabby"]  # keywords=None: untouched

    write_keywords(path, [], mode="embed")
    tags = read_tags(path)[0]
    assert tags[SUBJECT] == KEYWORDS and OURS not in tags


def test_a_photo_without_keywords_gets_ours_and_loses_the_field_with_them(tmp_path: Path):
    path = save_photo(tmp_path / "plain.jpg", "jpeg")
    write_keywords(path, ["tabby", "cat", "Zürich 猫"])
    assert subject(path) == ["tabby", "cat", "Zürich 猫"]
    assert read_keywords(path).human == ()
    write_keywords(path, [])
    tags = read_tags(path)[0]
    assert SUBJECT not in tags and OURS not in tags


def test_keywords_a_person_put_in_the_photo_are_not_copied_into_its_sidecar(rich):
    path, original = rich("png")
    write_keywords(path, ["cat", "tabby"])  # png + auto: a sidecar
    assert subject(sidecar_path(path)) == ["tabby"]
    assert read_tags(path)[0] == original.tags  # the photo itself untouched


def test_keywords_in_exiftool_made_extended_xmp_are_merged(tmp_path: Path):
    path = save_photo(tmp_path / "big.jpg", "jpeg")
    keywords = [f"keyword {i:03d} {'x' * 80}" for i in range(900)]  # Extended XMP
    args = tmp_path / "args.txt"
    args.write_text("\n".join(f"-XMP-dc:Subject={k}" for k in keywords) + "\n", "utf-8")
    exiftool("-q", "-overwrite_original", "-@", args, path)
    before = read_tags(path)[0]
    assert "XMP:XMP-xmpNote:HasExtendedXMP" in before

    write_caption(path, "A cat.", model_id=MODEL, keywords=["tabby", "pet"])
    write_caption(path, "A cat.", model_id=MODEL, overwrite=True, keywords=["pet", "dog"])

    after = read_tags(path)[0]
    assert after[SUBJECT] == [*keywords, "pet", "dog"]
    allowed = CAPTION_TAGS | FRESH_EXIF_TAGS | {SUBJECT, "XMP:XMP-xmpNote:HasExtendedXMP"}
    assert changed_tags(before, after) <= allowed
    assert read_keywords(path).photocap == ("pet", "dog")


@pytest.mark.parametrize("bad", [["ok", ""], ["tab\tby"], "tabby", ["x" * 300]])
def test_bad_keywords_are_refused_and_nothing_is_written(tmp_path: Path, bad):
    path = save_photo(tmp_path / "p.jpg", "jpeg")
    before = path.read_bytes()
    with pytest.raises(MetadataError):
        write_caption(path, "A cat.", model_id=MODEL, keywords=bad)
    assert path.read_bytes() == before
