"""The index run: discover photos, skip what is unchanged, caption the rest in batches, write the
captions into the photos and into the index, committing each batch.

`IndexRun` is the one path used by `photocap index` and `photocap watch`. A photo that fails
becomes an error outcome (and an error row); the run goes on. Nothing here prints or exits.

Incremental by design: discovery asks the index first, so a file indexed with the same size and
mtime is neither opened nor hashed, and a run with nothing to caption never imports torch.
How photos become model input (and the run's torch threads) is `photocap.model_input`.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from photocap.errors import HumanCaptionExists, ImageError, PhotocapError
from photocap.images import decode_photo, discover
from photocap.index import Index, PhotoRecord
from photocap.metadata import (
    CaptionRecord,
    WriteMode,
    read_caption,
    sidecars_mtime_ns,
    write_caption,
)
from photocap.metadata.atomic import remove_if_stale
from photocap.model_input import (
    Preparation,
    preparation_of,
    same_preparation,
    torch_threads,
)
from photocap.model_input import model_preparation as model_preparation  # re-exported

if TYPE_CHECKING:
    import torch

    from photocap.captioner import Caption, Captioner
    from photocap.loader import LoadedPhoto, PhotoBatch
    from photocap.model.search import DecodeOptions

Outcome = Literal["captioned", "unchanged", "moved", "human", "reused", "failed"]
CHUNK = 256  # discovered paths planned together (one index query)
CAPTION_CHUNK = 1024  # pending photos handed to one DataLoader; bounds memory with any library
_FOLDER_ROWS = 100_000  # index rows kept for recently walked folders


@dataclass(frozen=True)
class IndexOptions:
    write: WriteMode = "auto"
    overwrite: bool = False  # replace captions a person wrote (also those already indexed)
    dry_run: bool = False  # caption, but write nothing (no photo, no index)
    beam: int = 3
    batch_size: int = 16
    workers: int = 2  # decoding processes (0: decode in this process)
    threads: int | None = None  # torch threads of this process while captioning (None: torch's)


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
    temp_files_removed: int = 0  # left behind by a writer that was killed
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    caption_seconds: float = 0.0  # from the first decoded batch to the last caption stored
    model_id: str | None = None
    interrupted: bool = False

    def add(self, outcome: PhotoOutcome) -> None:
        if outcome.outcome == "failed":
            self.failed[outcome.path] = outcome.error or "failed"
        else:
            setattr(self, outcome.outcome, getattr(self, outcome.outcome) + 1)
        if outcome.written in ("embedded", "sidecar"):
            setattr(self, outcome.written, getattr(self, outcome.written) + 1)

    @property
    def photos_per_second(self) -> float:
        """Photos captioned per second of the whole run (model loading and planning included)."""
        return self.captioned / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "photos_per_second": round(self.photos_per_second, 2)}


@dataclass
class _Pending:
    path: str
    size: int
    mtime_ns: int
    sha256: str | None  # None: not hashed yet (no indexed photo has its size), done once stored
    sidecar_mtime_ns: int | None


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


class _FolderRows:
    """Index rows of the files in recently walked folders: one query per folder, bounded in size."""

    def __init__(self, index: Index, max_rows: int = _FOLDER_ROWS):
        self.index = index
        self.max_rows = max_rows
        self._folders: OrderedDict[str, dict[str, PhotoRecord]] = OrderedDict()
        self._rows = 0

    def get(self, path: str) -> PhotoRecord | None:
        folder = os.path.dirname(path)
        rows = self._folders.get(folder)
        if rows is None:
            rows = self._load(folder)
            self._folders[folder] = rows
            self._rows += len(rows)
            while self._rows > self.max_rows and len(self._folders) > 1:
                self._rows -= len(self._folders.popitem(last=False)[1])
        else:
            self._folders.move_to_end(folder)
        return rows.get(path)

    def _load(self, folder: str) -> dict[str, PhotoRecord]:
        try:
            names = os.listdir(folder)
        except OSError:
            return {}
        return self.index.lookup(os.path.join(folder, n) for n in names if not n.startswith("."))


class IndexRun:
    """One run over some paths; `run()` returns the summary. Callbacks report progress.

    `captioner` is a factory, called once on first need: a run with nothing to caption never
    loads the model (nor imports torch). With `preparation` (a factory of the model's
    `Preparation`), photos start decoding while the model loads. `should_stop` is polled after
    each batch.
    """

    def __init__(
        self,
        index: Index | None,
        captioner: Callable[[], Captioner],
        options: IndexOptions = IndexOptions(),
        on_photo: Callable[[PhotoOutcome], None] | None = None,
        on_found: Callable[[int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        preparation: Callable[[], Preparation] | None = None,
    ):
        self.index = None if options.dry_run else index
        self.lookup_index = index  # a dry run still skips what the index says is done
        self._captioner_factory = captioner
        self._captioner: Captioner | None = None
        self._preparation = preparation
        self.options = options
        self.on_photo = on_photo
        self.on_found = on_found
        self.should_stop = should_stop or (lambda: False)
        self.summary = IndexSummary()
        self._folder_rows = _FolderRows(index) if index is not None else None
        self._vouched: dict[str, PhotoRecord] = {}  # found unchanged by discovery, not yet reported

    @property
    def captioner(self) -> Captioner:
        """Loaded on first need: a run with nothing to caption never loads the model."""
        if self._captioner is None:
            self._captioner = self._captioner_factory()
            self.summary.model_id = self._captioner.model_id
        return self._captioner

    def run(self, paths: Iterable[str | Path], roots: Iterable[str | Path] = ()) -> IndexSummary:
        """Walk `paths` (folders recursively, files as given), index what is new or changed.

        `roots` are remembered in the index as folders the user indexed (`watch` uses them).
        A KeyboardInterrupt sets `summary.interrupted` and propagates; finished batches stay
        committed, so the next run resumes where this one stopped.
        """
        if self.index is not None:
            for root in roots:
                self.index.add_root(root)
        known = self._known if self._folder_rows is not None else None
        on_temp_file = None if self.options.dry_run else self._remove_if_stale
        found = discover(paths, on_error=self._folder_error, known=known, on_temp_file=on_temp_file)
        return self._run(found, announce=True)

    def run_files(self, paths: Iterable[str | Path]) -> IndexSummary:
        """Plan and caption exactly these files, without walking folders (for callers that already
        know which files changed, such as `photocap watch`). Missing files become failed outcomes."""
        return self._run((Path(os.path.abspath(p)) for p in paths), announce=False)

    def known(self, path: str, st: os.stat_result) -> bool:
        """True when `path` (absolute) is indexed as it is now, so `run_files` reports it unchanged
        without reading it; for callers that walk folders themselves (`watch` passes it to
        `discover(known=...)` when catching up)."""
        return self._folder_rows is not None and self._known(path, st)

    def prune(self, roots: Iterable[str | Path]) -> int:
        """Remove rows of photos under `roots` that no longer exist."""
        if self.index is None:
            return 0
        removed = sum(len(self.index.prune(under=root).removed) for root in roots)
        self.summary.pruned += removed
        return removed

    def _run(self, found: Iterable[Path], announce: bool) -> IndexSummary:
        started = time.monotonic()
        pending: list[_Pending] = []
        try:
            for chunk in _chunks(found, CHUNK):
                self.summary.found += len(chunk)
                if announce and self.on_found:
                    self.on_found(self.summary.found)
                pending += self._plan([str(p) for p in chunk])
                if len(pending) >= CAPTION_CHUNK:
                    self._caption(pending)
                    pending = []
                if self.should_stop():
                    return self.summary
            if pending and not self.should_stop():
                self._caption(pending)
        except KeyboardInterrupt:
            self.summary.interrupted = True
            raise
        finally:
            self.summary.seconds += time.monotonic() - started
        return self.summary

    # -- planning: decide per photo without reading pixels ------------------------------------

    def _known(self, path: str, st: os.stat_result) -> bool:
        """Discovery's question: is this file indexed as it is now? (Then it is not even opened.)"""
        assert self._folder_rows is not None
        row = self._folder_rows.get(path)  # discovery's paths are absolute and normalised
        if row is None or not self._up_to_date(row, st, sidecars_mtime_ns(path)):
            return False
        self._vouched[path] = row
        return True

    def _up_to_date(
        self, row: PhotoRecord, st: os.stat_result, sidecar_mtime_ns: int | None
    ) -> bool:
        """The row says all there is: the photo and its sidecars are as indexed, successfully."""
        return self._settled(row) and row.unchanged(st.st_size, st.st_mtime_ns, sidecar_mtime_ns)

    def _settled(self, row: PhotoRecord) -> bool:
        """Indexed successfully, and not a human caption that this run is to replace."""
        return row.status == "ok" and not (self.options.overwrite and row.source == "human")

    def _plan(self, paths: list[str]) -> list[_Pending]:
        unknown = []
        for path in paths:
            row = self._vouched.pop(path, None) if self._vouched else None
            if row is not None:
                self._report(PhotoOutcome(path, "unchanged", row.caption, row.source))
            else:
                unknown.append(path)
        if not unknown:
            return []
        rows = self.lookup_index.lookup(unknown) if self.lookup_index is not None else {}
        pending, records = [], []
        stats = self._stat_all(unknown, records)
        sizes = self._sizes_present(st.st_size for st in stats.values())
        for path, st in stats.items():
            try:
                row = rows.get(os.path.abspath(path))
                sidecar = sidecars_mtime_ns(path)
                if row is not None and self._up_to_date(row, st, sidecar):
                    self._report(PhotoOutcome(path, "unchanged", row.caption, row.source))
                    continue
                # only a photo of an indexed size can be one that moved (or was touched)
                sha = file_sha256(path) if row is not None or st.st_size in sizes else None
                decided = self._decide(path, st, sidecar, sha, row)
            except PhotocapError as exc:
                self._fail(path, _message(exc), records)
                continue
            except OSError as exc:
                self._fail(path, f"cannot read: {exc.strerror or exc}", records)
                continue
            if isinstance(decided, _Pending):
                if row is not None and row.status == "error" and (broken := _still_broken(path)):
                    self._fail(path, broken, records)  # known broken: no need to load the model
                    continue
                pending.append(decided)
            elif decided is not None:
                record, outcome = decided
                records.append(record)
                self._report(outcome)
        self._commit(records)
        return pending

    def _stat_all(self, paths: list[str], records: list[PhotoRecord]) -> dict[str, os.stat_result]:
        stats = {}
        for path in paths:
            try:
                stats[path] = os.stat(path)
            except OSError as exc:
                self._fail(path, f"cannot read: {exc.strerror or exc}", records)
        return stats

    def _sizes_present(self, sizes: Iterable[int]) -> set[int]:
        return self.lookup_index.sizes_present(sizes) if self.lookup_index is not None else set()

    def _decide(
        self,
        path: str,
        st: os.stat_result,
        sidecar: int | None,
        sha: str | None,
        row: PhotoRecord | None,
    ) -> _Pending | tuple[PhotoRecord, PhotoOutcome] | None:
        """What to do with a photo that is new or not as indexed. `sidecar` (its sidecars' newest
        mtime) is taken before its caption is read, so an edit after that is seen next time."""
        base = {
            "path": path,
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "sha256": sha,
            "sidecar_mtime_ns": sidecar,
        }
        same_bytes = row is not None and row.sha256 == sha and self._settled(row)
        if same_bytes and row.sidecar_mtime_ns == sidecar:
            record = replace(row, **base)  # touched (new mtime), same bytes
            return record, PhotoOutcome(path, "unchanged", row.caption, row.source)
        if row is None and sha is not None and self.lookup_index is not None:
            for old in self.lookup_index.find_by_hash(sha):
                if old.status == "ok" and not os.path.exists(old.path):  # moved or renamed
                    return self._moved(path, old, base)
        found = _read_caption(path)
        if found is not None and sha is None:  # indexed without captioning: hash it now
            base["sha256"] = file_sha256(path)
        if found is not None and found.source == "human" and not self.options.overwrite:
            record = PhotoRecord(**base, caption=found.text, source="human")
            return record, PhotoOutcome(path, "human", found.text, "human")
        if found is not None and found.source == "model" and (row is None or same_bytes):
            # photocap captioned it before (into another index, or only a sidecar changed):
            # index that caption as it is
            fields = {**base, "caption": found.text, "source": "model", "model_id": found.model_id}
            record = replace(row, **fields) if row is not None else PhotoRecord(**fields)
            outcome = "unchanged" if row is not None and row.caption == found.text else "reused"
            return record, PhotoOutcome(path, outcome, found.text, "model")
        return _Pending(path, st.st_size, st.st_mtime_ns, sha, sidecar)

    def _moved(self, path: str, old: PhotoRecord, base: dict) -> tuple[PhotoRecord, PhotoOutcome]:
        """The row of a moved photo follows it; a caption left behind in a sidecar is written again."""
        if self.index is not None:
            self.index.move(old.path, path)
        record = replace(old, **base)
        written = None
        if (
            self.index is not None
            and old.source == "model"
            and old.caption
            and self.options.write != "none"
            and _read_caption(path) is None
        ):
            model_id = old.model_id or "unknown"
            record, written, error = self._write(record, old.caption, model_id)
            if error is not None:
                return record, PhotoOutcome(path, "failed", old.caption, "model", error=error)
        outcome = PhotoOutcome(
            path, "moved", old.caption, old.source, written=written, moved_from=old.path
        )
        return record, outcome

    # -- captioning: decode in workers, batch through the model, write, commit ----------------

    def _caption(self, pending: list[_Pending]) -> None:
        """A three-stage pipeline: DataLoader workers decode photos, this thread runs the encoder,
        and a second thread decodes captions (beam search) and writes them into the photos while
        the encoder works on the next batch. Results are committed, then reported, batch by batch,
        in order, from this thread."""
        from photocap.model.search import DecodeOptions

        decode = DecodeOptions(beam_size=self.options.beam)
        by_path = {p.path: p for p in pending}
        paths = [p.path for p in pending]
        if self._captioner is None and self._preparation is not None:
            captioner, batches = self._load_while_decoding(paths, self._preparation())
        else:
            captioner = self.captioner
            batches = self._loader(paths, preparation_of(captioner))
        started = time.monotonic()
        in_flight: tuple[Future, list[PhotoRecord]] | None = None
        with torch_threads(self.options.threads), ThreadPoolExecutor(1) as second:
            try:
                for batch in batches:
                    failed: list[PhotoRecord] = []
                    for item in batch.failed:
                        self._fail(str(item.path), _reason(item), failed, by_path)
                    jobs = [(by_path[str(item.path)], item) for item in batch.ok]
                    features = captioner.encode(batch.tensors) if jobs else None
                    if in_flight is not None:
                        done, in_flight = in_flight, None
                        self._finish(*done)
                    job = second.submit(self._decode_and_store, captioner, features, decode, jobs)
                    in_flight = (job, failed)
                    if self.should_stop():
                        break
            finally:
                if in_flight is not None:  # also on Ctrl-C: what was written gets committed
                    self._finish(*in_flight)
                self.summary.caption_seconds += time.monotonic() - started

    def _loader(self, paths: list[str], preparation: Preparation) -> Iterator[PhotoBatch]:
        """Batches of decoded photos; the DataLoader's worker processes start right away."""
        from photocap.loader import photo_loader

        loader = photo_loader(
            paths,
            preparation.prepare,
            batch_size=self.options.batch_size,
            workers=self.options.workers,
            min_side=preparation.min_side,
            pin_memory=preparation.pin_memory,
        )
        return iter(loader)

    def _load_while_decoding(
        self, paths: list[str], early: Preparation
    ) -> tuple[Captioner, Iterator[PhotoBatch]]:
        """Start the decoding workers, then load the model while they decode the first batches."""
        batches = self._loader(paths, early)
        captioner = self.captioner
        if not same_preparation(early, captioner):  # never expected; start again, exactly
            del batches
            batches = self._loader(paths, preparation_of(captioner))
        return captioner, batches

    def _decode_and_store(
        self,
        captioner: Captioner,
        features: torch.Tensor | None,
        decode: DecodeOptions,
        jobs: list[tuple[_Pending, LoadedPhoto]],
    ) -> list[tuple[PhotoRecord, PhotoOutcome]]:
        """The second thread's part: captions from features, written into each photo (no
        callbacks, no index)."""
        if not jobs:
            return []
        captions = captioner.caption_features(features, decode)
        return [
            self._store(pending, item, caption)
            for (pending, item), caption in zip(jobs, captions, strict=True)
        ]

    def _finish(self, stored: Future, failed: list[PhotoRecord]) -> None:
        """Commit a written batch, then report it (so a callback that raises loses nothing)."""
        results = stored.result()
        self._commit(failed + [record for record, _ in results])
        for _, outcome in results:
            self._report(outcome)

    def _store(
        self, pending: _Pending, item: LoadedPhoto, caption: Caption
    ) -> tuple[PhotoRecord, PhotoOutcome]:
        path, model_id = pending.path, self.captioner.model_id
        record = PhotoRecord(
            path=path,
            size=pending.size,
            mtime_ns=pending.mtime_ns,
            sha256=pending.sha256,
            sidecar_mtime_ns=pending.sidecar_mtime_ns,
            width=item.width,
            height=item.height,
            caption=caption.text,
            source="model",
            model_id=model_id,
            score=caption.score,
        )
        if self.options.dry_run:
            return record, PhotoOutcome(path, "captioned", caption.text, "model", written="none")
        record, written, error = self._write(record, caption.text, model_id)
        if error is not None:
            return record, PhotoOutcome(path, "failed", caption.text, "model", error=error)
        if record.source == "human":
            return record, PhotoOutcome(path, "human", record.caption, "human")
        return record, PhotoOutcome(path, "captioned", caption.text, "model", written=written)

    def _write(
        self, record: PhotoRecord, text: str, model_id: str
    ) -> tuple[PhotoRecord, str | None, str | None]:
        """Write the caption into the photo: (record as it is now, where written, error)."""
        path = record.path
        try:
            result = write_caption(
                path,
                text,
                mode=self.options.write,
                model_id=model_id,
                overwrite=self.options.overwrite,
            )
        except HumanCaptionExists:  # a person captioned it while we were working
            sidecar = sidecars_mtime_ns(path)  # before reading: a later edit is seen next time
            found = _read_caption(path)
            human = replace(
                record,
                sha256=record.sha256 or _sha256_or_none(path),
                sidecar_mtime_ns=sidecar,
                caption=found.text if found else None,
                source="human",
                model_id=None,
                score=None,
            )
            return human, None, None
        except PhotocapError as exc:
            message = _message(exc)
            if "not written" not in message:
                message = f"caption not written: {message}"
            return replace(record, status="error", error=message), None, message
        try:
            if result.where == "embedded":  # the photo changed: remember it as it is now
                st = os.stat(path)
                record = replace(
                    record, size=st.st_size, mtime_ns=st.st_mtime_ns, sha256=file_sha256(path)
                )
            elif record.sha256 is None:  # planning left the hash for now
                record = replace(record, sha256=file_sha256(path))
            if result.where == "sidecar":  # our own sidecar write is no news next time
                record = replace(record, sidecar_mtime_ns=sidecars_mtime_ns(path))
        except OSError as exc:
            message = f"cannot read after writing: {exc.strerror or exc}"
            return replace(record, status="error", error=message), result.where, message
        return record, result.where, None

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

    def _remove_if_stale(self, path: Path) -> None:
        """A temporary file a killed writer left beside a photo goes once it is old enough."""
        if remove_if_stale(path):
            self.summary.temp_files_removed += 1

    def _folder_error(self, error: PhotocapError) -> None:
        self._report(PhotoOutcome(str(error.path), "failed", error=_message(error)))

    def _commit(self, records: list[PhotoRecord]) -> None:
        if self.index is not None and records:
            self.index.upsert(records)

    def _report(self, outcome: PhotoOutcome) -> None:
        self.summary.add(outcome)
        if self.on_photo:
            self.on_photo(outcome)


def _sha256_or_none(path: str) -> str | None:
    try:
        return file_sha256(path)
    except OSError:
        return None


def _read_caption(path: str) -> CaptionRecord | None:
    """The caption in a photo or its sidecars; None also when the metadata cannot be read (then
    decoding says what is wrong with the photo, or writing what it refuses)."""
    try:
        return read_caption(path)
    except PhotocapError:
        return None


def _still_broken(path: str) -> str | None:
    """Why a photo that failed before still cannot be decoded; None when it now decodes."""
    try:
        decode_photo(path)
    except ImageError as exc:
        return _message(exc)
    except Exception as exc:  # a decoder bug on one odd file must not stop the run
        return f"unexpected error while decoding: {type(exc).__name__}: {exc}"
    return None


def _message(error: PhotocapError) -> str:
    """The reason for one photo's failure, with the hint (the path is said elsewhere)."""
    return f"{error.message} ({error.hint})" if error.hint else error.message


def _reason(item: LoadedPhoto) -> str:
    reason = item.error or "unreadable"
    return f"{reason} ({item.hint})" if item.hint else reason
