"""The index run: discover photos, skip what is unchanged, caption the rest in batches, write the
captions into the photos and into the index, committing each batch.

`index_photos` is the one path used by `photocap index` and `photocap watch`. A photo that fails
becomes an error outcome (and an error row); the run goes on.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from photocap.errors import HumanCaptionExists, PhotocapError
from photocap.images import discover
from photocap.index import Index, PhotoRecord
from photocap.metadata import WriteMode, read_caption, write_caption

if TYPE_CHECKING:
    from photocap.captioner import Captioner
    from photocap.loader import LoadedPhoto

Outcome = Literal["captioned", "unchanged", "moved", "human", "reused", "failed"]
CHUNK = 512  # photos planned and loaded together; bounds memory whatever the library size


@dataclass(frozen=True)
class IndexOptions:
    write: WriteMode = "auto"
    overwrite: bool = False  # replace captions a person wrote
    dry_run: bool = False  # caption, but write nothing (no photo, no index)
    beam: int = 3
    batch_size: int = 16
    workers: int = 2


@dataclass(frozen=True)
class PhotoOutcome:
    """What happened to one photo."""

    path: str
    outcome: Outcome
    caption: str | None = None
    source: str | None = None  # "model" or "human"
    written: str | None = None  # "embedded", "sidecar" or "none"
    error: str | None = None
    moved_from: str | None = None


@dataclass
class IndexSummary:
    """Counts of a run; `failed` maps each failed photo to the reason."""

    found: int = 0
    captioned: int = 0
    unchanged: int = 0
    moved: int = 0
    human: int = 0
    reused: int = 0
    embedded: int = 0
    sidecar: int = 0
    pruned: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    model_id: str | None = None

    def add(self, outcome: PhotoOutcome) -> None:
        if outcome.outcome == "failed":
            self.failed[outcome.path] = outcome.error or "failed"
        else:
            setattr(self, outcome.outcome, getattr(self, outcome.outcome) + 1)
        if outcome.written in ("embedded", "sidecar"):
            setattr(self, outcome.written, getattr(self, outcome.written) + 1)

    @property
    def photos_per_second(self) -> float:
        return self.captioned / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "photos_per_second": round(self.photos_per_second, 2)}


@dataclass
class _Pending:
    path: str
    size: int
    mtime_ns: int
    sha256: str


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _chunks(items: Iterable[Path], n: int) -> Iterator[list[Path]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, n)):
        yield chunk


class IndexRun:
    """One run over some paths; `run()` returns the summary. Callbacks report progress."""

    def __init__(
        self,
        index: Index | None,
        captioner: Callable[[], Captioner],
        options: IndexOptions = IndexOptions(),
        on_photo: Callable[[PhotoOutcome], None] | None = None,
        on_found: Callable[[int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ):
        self.index = None if options.dry_run else index
        self.lookup_index = index  # a dry run still skips what the index says is done
        self._captioner_factory = captioner
        self._captioner: Captioner | None = None
        self.options = options
        self.on_photo = on_photo
        self.on_found = on_found
        self.should_stop = should_stop or (lambda: False)
        self.summary = IndexSummary()

    @property
    def captioner(self) -> Captioner:
        """Loaded on first need: a run with nothing to caption never loads the model."""
        if self._captioner is None:
            self._captioner = self._captioner_factory()
            self.summary.model_id = self._captioner.model_id
        return self._captioner

    def run(self, paths: Iterable[str | Path], roots: Iterable[str | Path] = ()) -> IndexSummary:
        started = time.monotonic()
        if self.index is not None:
            for root in roots:
                self.index.add_root(root)
        try:
            for chunk in _chunks(discover(paths, on_error=self._folder_error), CHUNK):
                self.summary.found += len(chunk)
                if self.on_found:
                    self.on_found(self.summary.found)
                pending = self._plan([str(p) for p in chunk])
                if pending:
                    self._caption(pending)
                if self.should_stop():
                    break
        finally:
            self.summary.seconds = time.monotonic() - started
        return self.summary

    def run_files(self, paths: Iterable[str | Path]) -> IndexSummary:
        """Plan and caption exactly these files, without walking folders (for callers that already
        know which files changed, such as `photocap watch`). Missing files become failed outcomes."""
        started = time.monotonic()
        try:
            for chunk in _chunks((Path(p) for p in paths), CHUNK):
                self.summary.found += len(chunk)
                pending = self._plan([os.path.abspath(p) for p in chunk])
                if pending:
                    self._caption(pending)
                if self.should_stop():
                    break
        finally:
            self.summary.seconds += time.monotonic() - started
        return self.summary

    def prune(self, roots: Iterable[str | Path]) -> int:
        """Remove rows of photos under `roots` that no longer exist."""
        if self.index is None:
            return 0
        removed = sum(len(self.index.prune(under=root).removed) for root in roots)
        self.summary.pruned += removed
        return removed

    # -- planning: decide per photo without reading pixels ------------------------------------

    def _plan(self, paths: list[str]) -> list[_Pending]:
        rows = self.lookup_index.lookup(paths) if self.lookup_index is not None else {}
        pending, records = [], []
        for path in paths:
            try:
                st = os.stat(path)
                row = rows.get(os.path.abspath(path))
                if (
                    row is not None
                    and row.status == "ok"
                    and row.unchanged(st.st_size, st.st_mtime_ns)
                ):
                    self._report(PhotoOutcome(path, "unchanged", row.caption, row.source))
                    continue
                sha = file_sha256(path)
                decided = self._decide(path, st, sha, row)
            except PhotocapError as exc:
                self._fail(path, str(exc.message), records)
                continue
            except OSError as exc:
                self._fail(path, f"cannot read: {exc.strerror or exc}", records)
                continue
            if isinstance(decided, _Pending):
                pending.append(decided)
            elif decided is not None:
                record, outcome = decided
                records.append(record)
                self._report(outcome)
        self._commit(records)
        return pending

    def _decide(
        self, path: str, st: os.stat_result, sha: str, row: PhotoRecord | None
    ) -> _Pending | tuple[PhotoRecord, PhotoOutcome] | None:
        base = {"path": path, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha}
        if row is not None and row.status == "ok" and row.sha256 == sha:  # touched, not changed
            record = PhotoRecord(**{**asdict(row), **base, "indexed_at": None})
            return record, PhotoOutcome(path, "unchanged", row.caption, row.source)
        if row is None and self.lookup_index is not None:
            for old in self.lookup_index.find_by_hash(sha):
                if old.status == "ok" and not os.path.exists(old.path):  # moved or renamed
                    if self.index is not None:
                        self.index.move(old.path, path)
                    record = PhotoRecord(**{**asdict(old), **base, "indexed_at": None})
                    outcome = PhotoOutcome(
                        path, "moved", old.caption, old.source, moved_from=old.path
                    )
                    return record, outcome
        found = read_caption(path)
        if found is not None and found.source == "human" and not self.options.overwrite:
            record = PhotoRecord(**base, caption=found.text, source="human")
            return record, PhotoOutcome(path, "human", found.text, "human")
        if found is not None and found.source == "model" and row is None:
            # photocap captioned it before (e.g. into another index): index that caption as it is
            record = PhotoRecord(
                **base, caption=found.text, source="model", model_id=found.model_id
            )
            return record, PhotoOutcome(path, "reused", found.text, "model")
        return _Pending(path, st.st_size, st.st_mtime_ns, sha)

    # -- captioning: decode in workers, batch through the model, write, commit ----------------

    def _caption(self, pending: list[_Pending]) -> None:
        from photocap.loader import photo_loader
        from photocap.model.search import DecodeOptions

        captioner = self.captioner
        decode = DecodeOptions(beam_size=self.options.beam)
        by_path = {p.path: p for p in pending}
        loader = photo_loader(
            [p.path for p in pending],
            captioner.prepare,
            batch_size=self.options.batch_size,
            workers=self.options.workers,
            pin_memory=captioner.device.type == "cuda",
        )
        for batch in loader:
            records: list[PhotoRecord] = []
            for item in batch.failed:
                self._fail(str(item.path), item.error or "unreadable", records, by_path)
            if batch.ok:
                captions = captioner.caption_tensors(batch.tensors, decode)
                for item, caption in zip(batch.ok, captions, strict=True):
                    records.append(self._store(by_path[str(item.path)], item, caption))
            self._commit(records)
            if self.should_stop():
                break

    def _store(self, pending: _Pending, item: LoadedPhoto, caption) -> PhotoRecord:
        path, model_id = pending.path, self.captioner.model_id
        record = PhotoRecord(
            path=path,
            size=pending.size,
            mtime_ns=pending.mtime_ns,
            sha256=pending.sha256,
            width=item.width,
            height=item.height,
            caption=caption.text,
            source="model",
            model_id=model_id,
            score=caption.score,
        )
        if self.options.dry_run:
            self._report(PhotoOutcome(path, "captioned", caption.text, "model", written="none"))
            return record
        try:
            result = write_caption(
                path,
                caption.text,
                mode=self.options.write,
                model_id=model_id,
                overwrite=self.options.overwrite,
            )
        except HumanCaptionExists:  # a person captioned it while we were working
            found = read_caption(path)
            text = found.text if found else None
            self._report(PhotoOutcome(path, "human", text, "human"))
            return PhotoRecord(
                **{
                    **asdict(record),
                    "caption": text,
                    "source": "human",
                    "model_id": None,
                    "score": None,
                    "indexed_at": None,
                }
            )
        except PhotocapError as exc:
            message = f"caption not written: {exc.message}"
            self._report(PhotoOutcome(path, "failed", caption.text, "model", error=message))
            return PhotoRecord(
                **{**asdict(record), "status": "error", "error": message, "indexed_at": None}
            )
        if result.where == "embedded":  # the photo changed: remember it as it is now
            st = os.stat(path)
            record = PhotoRecord(
                **{
                    **asdict(record),
                    "size": st.st_size,
                    "mtime_ns": st.st_mtime_ns,
                    "sha256": file_sha256(path),
                    "indexed_at": None,
                }
            )
        self._report(PhotoOutcome(path, "captioned", caption.text, "model", written=result.where))
        return record

    # -- bookkeeping ------------------------------------------------------------------------

    def _fail(self, path: str, reason: str, records: list[PhotoRecord], pending=None) -> None:
        self._report(PhotoOutcome(path, "failed", error=reason))
        p = (pending or {}).get(path)
        try:
            st = os.stat(path)
            size, mtime = st.st_size, st.st_mtime_ns
        except OSError:
            if p is None:
                return  # vanished: nothing to record
            size, mtime = p.size, p.mtime_ns
        records.append(
            PhotoRecord(path=path, size=size, mtime_ns=mtime, status="error", error=reason)
        )

    def _folder_error(self, error: PhotocapError) -> None:
        self._report(PhotoOutcome(str(error.path), "failed", error=error.message))

    def _commit(self, records: list[PhotoRecord]) -> None:
        if self.index is not None and records:
            self.index.upsert(records)

    def _report(self, outcome: PhotoOutcome) -> None:
        self.summary.add(outcome)
        if self.on_photo:
            self.on_photo(outcome)
