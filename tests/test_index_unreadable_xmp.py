"""A photo whose XMP is refused (unsafe or malformed) and whose caption is held back: the index run
says the metadata cannot be read, never that a caption was "not withdrawn" when none was there,
and leaves the file as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from metadata_helpers import save_photo

from photocap.cli import cli

MALFORMED = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF>unclosed"
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?>\n<!DOCTYPE x [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>\n'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>&xxe;</dc:title>'
    b"</rdf:Description></rdf:RDF></x:xmpmeta>"
)


@pytest.mark.parametrize("packet", [MALFORMED, EXTERNAL_ENTITY], ids=["malformed", "unsafe"])
def test_first_run_on_refused_xmp_says_the_metadata_cannot_be_read(
    tmp_path: Path, tiny_model: Path, packet: bytes
):
    root = tmp_path / "photos"
    root.mkdir()
    photo = save_photo(root / "c.jpg", "jpeg", xmp=packet)
    before = photo.read_bytes()
    args = ["index", str(root), "--db", str(tmp_path / "index.db"), "--model", str(tiny_model)]
    held = ["--min-confidence", "1", "--no-label-alt"]  # nothing to write: only a withdrawal
    result = CliRunner().invoke(cli, [*args, *held, "--workers", "0", "--beam", "1", "--json"])
    assert result.exit_code == 1, result.output
    error = json.loads(result.stdout)["failed"][str(photo)]
    assert "not withdrawn" not in error
    assert error.startswith("the photo's metadata cannot be read, so nothing was written: XMP")
    assert photo.read_bytes() == before
