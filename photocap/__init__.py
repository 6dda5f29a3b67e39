"""photocap: caption photo libraries with a Show-Attend-Tell model, write alt text, search it.

The public API (each name loads its module on first use, so `import photocap` stays cheap)::

    import photocap

    captioner = photocap.load_captioner()                # the shipped model, on the best device
    captioner.caption_images([image])                    # PIL images in, captions out
    summary = photocap.index_photos(["~/Pictures"])      # what `photocap index` does
    with photocap.open_index() as index:                 # the index the CLI uses
        hits = photocap.search(index, "dog on beach").hits
    photocap.read_caption("IMG_0001.jpg")                # alt text in a photo or its sidecars
    photocap.write_caption("IMG_0001.jpg", "A dog.", model_id="me")
    photocap.Watcher(index, photocap.load_captioner, ["~/Pictures"]).run()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = {
    "load_captioner": "photocap.captioner",
    "Captioner": "photocap.captioner",
    "Caption": "photocap.captioner",
    "open_index": "photocap.store.index",
    "Index": "photocap.store.index",
    "PhotoRecord": "photocap.store.index",
    "search": "photocap.store.search",
    "index_photos": "photocap.indexing",
    "IndexOptions": "photocap.indexing",
    "IndexRun": "photocap.indexing",
    "IndexSummary": "photocap.indexing",
    "PhotoOutcome": "photocap.indexing",
    "Watcher": "photocap.watch",
    "WatchOptions": "photocap.watch",
    "read_caption": "photocap.metadata",
    "write_caption": "photocap.metadata",
    "PhotocapError": "photocap.errors",
}
__all__ = [
    "__version__",
    "Caption",
    "Captioner",
    "Index",
    "IndexOptions",
    "IndexRun",
    "IndexSummary",
    "PhotoOutcome",
    "PhotoRecord",
    "PhotocapError",
    "WatchOptions",
    "Watcher",
    "index_photos",
    "load_captioner",
    "open_index",
    "read_caption",
    "search",
    "write_caption",
]

if TYPE_CHECKING:
    from photocap.captioner import Caption, Captioner, load_captioner
    from photocap.errors import PhotocapError
    from photocap.indexing import IndexOptions, IndexRun, IndexSummary, PhotoOutcome, index_photos
    from photocap.metadata import read_caption, write_caption
    from photocap.store.index import Index, PhotoRecord, open_index
    from photocap.store.search import search
    from photocap.watch import Watcher, WatchOptions


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'photocap' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
