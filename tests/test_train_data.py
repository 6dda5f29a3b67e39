"""`photocap train` data: the user's image,caption CSV, read strictly and with line numbers."""

from __future__ import annotations

import pytest
from photocap.training.user_data import split_by_image

from photocap.errors import DataError
from photocap.evaluation.captions_csv import read_caption_csv


def write(tmp_path, content: str | bytes, name: str = "captions.csv"):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def test_header_in_any_order_extra_columns_quotes_newlines_and_bom(tmp_path):
    path = write(
        tmp_path,
        "\ufeffCaption,notes,Image\r\n"
        '"Product shot: a mug, blue",ok,mug.jpg\r\n'
        '"Product shot: the mug\nfrom above",,mug.jpg\r\n'
        "Product shot: a red kettle,,kettle.jpg\r\n"
        "\r\n"
        '"Product shot: a kettle with ""quotes""",x,sub/kettle 2 é.jpg\r\n',
    )
    data = read_caption_csv(path)
    assert data.names == ["mug.jpg", "kettle.jpg", "sub/kettle 2 é.jpg"]
    assert data.images[0] == tmp_path / "mug.jpg"  # relative to the CSV's folder
    assert data.captions[0] == ["Product shot: a mug, blue", "Product shot: the mug from above"]
    assert data.captions[2] == ['Product shot: a kettle with "quotes"']
    # the quoted caption spans lines 3-4, so the next row starts on line 5; line 6 is blank
    assert data.lines == [[2, 3], [5], [7]]
    assert not data.skipped


def test_headerless_file_is_image_then_caption(tmp_path):
    path = write(tmp_path, "a.jpg,A dog on the sand\nb.png,A cat\na.jpg,Another dog\n")
    data = read_caption_csv(path, images_dir=tmp_path / "photos")
    assert data.names == ["a.jpg", "b.png"]
    assert data.captions[0] == ["A dog on the sand", "Another dog"]
    assert data.images[1] == tmp_path / "photos" / "b.png"  # --images wins over the CSV folder
    assert data.lines == [[1, 3], [2]]


def test_not_utf8_names_the_line(tmp_path):
    path = write(tmp_path, "image,caption\na.jpg,A cat\nb.jpg,Caf\xe9 terrace\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"line 3: the file is not UTF-8") as err:
        read_caption_csv(path)
    assert "CSV UTF-8" in str(err.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("image,text_en\na.jpg,A cat\n", r"line 1: the header has no 'caption' column"),
        ("photo_id,caption\na.jpg,A cat\n", r"line 1: the header has no 'image' column"),
        ("image,caption\na.jpg,A cat\nb.jpg\n", r"line 3: missing columns"),
        ("just-one-column\nsecond\n", r"line 1: missing columns"),
        ("", r"empty"),
        ("image,caption\n", r"no usable caption rows"),
    ],
)
def test_missing_columns_and_empty_files(tmp_path, content, message):
    with pytest.raises(DataError, match=message):
        read_caption_csv(write(tmp_path, content))


def test_empty_captions_are_skipped_with_their_line_or_refused_when_strict(tmp_path):
    path = write(tmp_path, 'image,caption\na.jpg,A cat\nb.jpg,"  "\nc.jpg,!!!\n,A dog\nd.jpg,Ok\n')
    data = read_caption_csv(path)
    assert data.names == ["a.jpg", "d.jpg"]
    assert [(p.line, p.image, p.reason) for p in data.skipped] == [
        (3, "b.jpg", "empty caption"),
        (4, "c.jpg", "empty caption"),  # no words at all
        (5, "", "empty image cell"),
    ]
    assert str(data.skipped[0]) == "line 3: b.jpg: empty caption"
    with pytest.raises(DataError, match=r"line 3: empty caption"):
        read_caption_csv(path, strict=True)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_caption_csv(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="folder"):
        read_caption_csv(tmp_path)


def test_split_by_image_is_disjoint_complete_and_seeded():
    train, val = split_by_image(25, 0.1, seed=3)
    assert len(val) == 2 and len(train) == 23
    assert sorted(train + val) == list(range(25))
    assert split_by_image(25, 0.1, seed=3) == (train, val)
    assert split_by_image(25, 0.1, seed=4) != (train, val)
    assert len(split_by_image(10, 0.01)[1]) == 1  # always at least one validation image
    with pytest.raises(DataError):
        split_by_image(10, 1.5)
