"""The index run: discover photos, plan what changed, caption the rest in batches, write the
captions into the photos and into the index, committing each batch.

`IndexRun` is the one path used by `photocap index` and `photocap watch`. A photo that fails
becomes an error outcome (and an error row); the run goes on. Nothing here prints or exits.

Incremental by design: discovery asks the index first (`indexing.plan`), so a file indexed with the
same size and mtime is neither opened nor hashed, and a run with nothing to caption never imports
torch. Model input (decoding, torch threads) is `indexing.model_input`; each photo's row and
outcome, written into the photo through one path, `indexing.rows` (on `indexing.write`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from photocap.errors import PhotocapError
from photocap.indexing.model_input import (
    Preparation,
    decoded_batches,
    load_while_decoding,
    preparation_of,
    torch_threads,
)
from photocap.indexing.outcomes import IndexOptions, IndexSummary, PhotoOutcome
from photocap.indexing.pairs import split_pairs
from photocap.indexing.plan import PendingPhoto, Planner
from photocap.indexing.rows import WriteStage
from photocap.indexing.write import reason_of
from photocap.iterables import batched
from photocap.metadata.atomic import remove_if_stale
from photocap.photos.discover import discover
from photocap.store.index import Index, PhotoRecord

if TYPE_CHECKING:
    import torch

    from photocap.captioner import Captioner
    from photocap.indexing.loader import LoadedPhoto, PhotoBatch
    from photocap.indexing.ray_captioning import RayCaptioning, RayOptions, RemoteBatch
    from photocap.model.beam import DecodeOptions

    Job = tuple[PendingPhoto, LoadedPhoto]

CHUNK = 256  # discovered paths planned together (one index query)
DEFAULT_OPTIONS = IndexOptions()
CAPTION_CHUNK = 1024  # pending photos handed to one DataLoader; bounds memory with any library
REMOTE_WRITERS = 8  # threads writing captions into photos on the Ray path (4x one, measured)


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
        options: IndexOptions = DEFAULT_OPTIONS,
        on_photo: Callable[[PhotoOutcome], None] | None = None,
        on_found: Callable[[int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        preparation: Callable[[], Preparation] | None = None,
        remote: Callable[[], RayCaptioning] | None = None,
    ):
        self.index = None if options.dry_run else index
        self.lookup_index = index  # a dry run still skips what the index says is done
        self._captioner_factory = captioner
        self._captioner: Captioner | None = None
        self._preparation = preparation
        self._remote_factory = remote
        self._remote: RayCaptioning | None = None
        self.options = options
        self.on_photo = on_photo
        self.on_found = on_found
        self.should_stop = should_stop or (lambda: False)
        self.summary = IndexSummary()
        self.planner = Planner(self.index, index, options)
        self.writer = WriteStage(options, lambda: self.model_id)

    @property
    def captioner(self) -> Captioner:
        """Loaded on first need: a run with nothing to caption never loads the model."""
        if self._captioner is None:
            self._captioner = self._captioner_factory()
            self.summary.model_id = self._captioner.model_id
        return self._captioner

    @property
    def remote(self) -> RayCaptioning:
        """The Ray actors that caption instead of this process (`remote`), started on first need."""
        if self._remote is None:
            assert self._remote_factory is not None
            self._remote = self._remote_factory()
            self.summary.model_id = self._remote.model_id
        return self._remote

    @property
    def model_id(self) -> str:
        return self.remote.model_id if self._remote_factory else self.captioner.model_id

    def close(self) -> None:
        """Let go of the Ray actors, if any were started."""
        if self._remote is not None:
            self._remote.close()
            self._remote = None

    def run(
        self,
        paths: Iterable[str | Path],
        roots: Iterable[str | Path] = (),
        *,
        defer: Callable[[Path], bool] | None = None,
    ) -> IndexSummary:
        """Walk `paths` (folders recursively, files as given), index what is new or changed.

        `roots` are remembered in the index as folders the user indexed (`watch` uses them).
        A found file for which `defer(path)` is true is left out (`watch` leaves files still
        being written to its own tracker). A KeyboardInterrupt sets `summary.interrupted` and
        propagates; finished batches stay committed, so the next run resumes where this one stopped.
        """
        if self.index is not None:
            for root in roots:
                self.index.add_root(root)
        on_temp_file = None if self.options.dry_run else self._remove_if_stale
        found: Iterable[Path] = discover(
            paths, on_error=self._folder_error, known=self.planner.known, on_temp_file=on_temp_file
        )
        if defer is not None:
            found = (path for path in found if not defer(path))
        return self._run(found, announce=True)

    def run_files(self, paths: Iterable[str | Path]) -> IndexSummary:
        """Plan and caption exactly these files, without walking folders (for callers that already
        know which files changed, such as `photocap watch`). Missing files become failed outcomes."""
        return self._run((Path(os.path.abspath(p)) for p in paths), announce=False)

    def prune(self, roots: Iterable[str | Path]) -> int:
        """Remove rows of photos under `roots` that no longer exist."""
        if self.index is None:
            return 0
        removed = sum(len(self.index.prune(under=root).removed) for root in roots)
        self.summary.pruned += removed
        return removed

    def _run(self, found: Iterable[Path], announce: bool) -> IndexSummary:
        started = time.monotonic()
        pending: list[PendingPhoto] = []
        try:
            for chunk in batched(found, CHUNK):
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

    def _plan(self, paths: list[str]) -> list[PendingPhoto]:
        plan = self.planner.plan(paths)
        self._commit(plan.records)
        for outcome in plan.outcomes:
            self._report(outcome)
        return plan.pending

    # -- captioning: decode in workers, batch through the model, write, commit ----------------

    def _caption(self, pending: list[PendingPhoto]) -> None:
        """Caption `pending` here or on the Ray cluster; the RAW of a RAW + JPEG pair waits for its
        JPEG's caption (`indexing.pairs`), and is captioned on its own if the JPEG got none."""
        pending, self.writer.twins = split_pairs(pending)
        if self._remote_factory is not None:
            orphans = self._caption_remotely(pending)
        else:
            orphans = self._caption_here(pending)
        orphans += self.writer.twins.values()  # their JPEG ended without a caption
        if orphans and not self.should_stop():
            self._caption(orphans)

    def _caption_here(self, pending: list[PendingPhoto]) -> list[PendingPhoto]:
        """A three-stage pipeline: DataLoader workers decode photos, this thread runs the encoder,
        and a second thread decodes captions (beam search) and writes them into the photos while
        the encoder works on the next batch. Results are committed, then reported, batch by batch,
        in order, from this thread. Returns the RAWs whose JPEG could not be decoded."""
        from photocap.model.beam import DecodeOptions

        decode = DecodeOptions(beam_size=self.options.beam, evidence=self.options.evidence)
        orphans: list[PendingPhoto] = []
        in_process = len(pending) < self.options.workers_from  # workers cost more than they save
        options = replace(self.options, workers=0) if in_process else self.options
        by_path = {p.path: p for p in pending}
        paths = [p.path for p in pending]
        if self._captioner is None and self._preparation is not None:
            captioner, batches = load_while_decoding(
                paths, self._preparation(), options, lambda: self.captioner
            )
        else:
            captioner = self.captioner
            batches = decoded_batches(paths, preparation_of(captioner), options)
        started = time.monotonic()
        in_flight: tuple[Future, list[PhotoRecord]] | None = None
        with torch_threads(self.options.threads), ThreadPoolExecutor(1) as second:
            try:
                for batch in batches:
                    failed, jobs, decided = self._sorted(batch, by_path, orphans)
                    features = captioner.encode(batch.tensors) if jobs else None
                    if in_flight is not None:
                        done, in_flight = in_flight, None
                        self._finish(*done)
                    job = second.submit(
                        self._decode_and_store, captioner, features, decode, jobs, decided
                    )
                    in_flight = (job, failed)
                    if self.should_stop():
                        break
            finally:
                if in_flight is not None:  # also on Ctrl-C: what was written gets committed
                    self._finish(*in_flight)
                self.summary.caption_seconds += time.monotonic() - started
        return orphans

    def _sorted(
        self,
        batch: PhotoBatch | RemoteBatch,
        by_path: dict[str, PendingPhoto],
        orphans: list[PendingPhoto],
    ) -> tuple[list[PhotoRecord], list[Job], list[Job]]:
        """A batch's failed photos reported (their error rows returned; a failed JPEG's RAW twin
        goes to `orphans`), and its photos for the model and decided ones, with their plans."""
        failed: list[PhotoRecord] = []
        for record, outcome in self.writer.failures(batch.failed, by_path, orphans):
            self._report(outcome)
            failed += [record] if record is not None else []
        jobs = [(by_path[str(item.path)], item) for item in batch.ok]
        decided = [(by_path[str(item.path)], item) for item in batch.decided]
        return failed, jobs, decided

    def _decode_and_store(
        self,
        captioner: Captioner,
        features: torch.Tensor | None,
        decode: DecodeOptions,
        jobs: list[tuple[PendingPhoto, LoadedPhoto]],
        decided: list[tuple[PendingPhoto, LoadedPhoto]],
    ) -> list[tuple[PhotoRecord, PhotoOutcome]]:
        """The second thread's part: labels and captions from features, written into each photo
        (no callbacks, no index). Photos decided already (`keep`) are only labelled; photos the
        model must not caption (`decided`) get their verdict."""
        if not jobs:
            return self.writer.results([], decided, {}, [])
        to_caption = [i for i, (pending, _) in enumerate(jobs) if pending.keep is None]
        captions = (
            dict(
                zip(
                    to_caption,
                    captioner.caption_features(features[to_caption], decode),
                    strict=True,
                )
            )
            if to_caption
            else {}
        )
        return self.writer.results(jobs, decided, captions, captioner.label_features(features))

    def _caption_remotely(self, pending: list[PendingPhoto]) -> list[PendingPhoto]:
        """The Ray path: actors decode and caption batches; this process writes and commits each
        batch, in order, as it comes back. Returns the RAWs whose JPEG could not be decoded."""
        by_path = {p.path: p for p in pending}
        wanted = [(p.path, p.keep is None) for p in pending]
        orphans: list[PendingPhoto] = []
        started = time.monotonic()
        writers = ThreadPoolExecutor(REMOTE_WRITERS)  # the cluster captions faster than one writes
        try:
            for batch in self.remote.describe(batched(wanted, self.options.batch_size)):
                failed, jobs, decided = self._sorted(batch, by_path, orphans)
                results = self.writer.results(jobs, decided, batch.captions, batch.labels, writers)
                self._commit(failed + [record for record, _ in results])
                for _, outcome in results:
                    self._report(outcome)
                if self.should_stop():
                    break
        finally:
            writers.shutdown()
            self.summary.caption_seconds += time.monotonic() - started
        return orphans

    def _finish(self, stored: Future, failed: list[PhotoRecord]) -> None:
        """Commit a written batch, then report it (so a callback that raises loses nothing)."""
        results = stored.result()
        self._commit(failed + [record for record, _ in results])
        for _, outcome in results:
            self._report(outcome)

    # -- bookkeeping ------------------------------------------------------------------------

    def _remove_if_stale(self, path: Path) -> None:
        """A temporary file a killed writer left beside a photo goes once it is old enough."""
        if remove_if_stale(path):
            self.summary.temp_files_removed += 1

    def _folder_error(self, error: PhotocapError) -> None:
        self._report(PhotoOutcome(str(error.path), "failed", error=reason_of(error)))

    def _commit(self, records: list[PhotoRecord]) -> None:
        if self.index is not None and records:
            self.index.upsert(records)

    def _report(self, outcome: PhotoOutcome) -> None:
        self.summary.add(outcome)
        if self.on_photo:
            self.on_photo(outcome)


def index_photos(
    paths: Iterable[str | Path],
    *,
    db: str | None = None,
    model: str | Path | None = None,
    device: str = "auto",
    precision: str = "auto",
    options: IndexOptions = DEFAULT_OPTIONS,
    prune: bool = False,
    on_photo: Callable[[PhotoOutcome], None] | None = None,
    on_found: Callable[[int], None] | None = None,
    ray: RayOptions | None = None,
) -> IndexSummary:
    """Caption, write and index the photos under `paths`: what `photocap index` does.

    `db` is an index URL or file (default: the user's index), `model` a model file (default: the
    shipped one). With `prune`, rows of photos gone from the folders are removed. With `ray`,
    decoding and captioning run on a Ray cluster (`indexing.ray_captioning`). A dry run
    (`options.dry_run`) creates and changes nothing. Ctrl-C ends the run with finished batches
    saved and `summary.interrupted` set.
    """
    from photocap.errors import IndexDatabaseError
    from photocap.indexing.model_input import model_preparation
    from photocap.store.index import open_index

    paths = [Path(p) for p in paths]
    roots = [p for p in paths if p.is_dir()]
    try:
        index = open_index(db, create=not options.dry_run)
    except IndexDatabaseError:
        if not options.dry_run:
            raise
        index = None  # a dry run creates nothing; without an index everything is new

    def load() -> Captioner:
        from photocap.captioner import load_captioner

        return load_captioner(model, device, precision)

    def remote() -> RayCaptioning:
        from photocap.indexing.ray_captioning import RayCaptioning

        assert ray is not None
        return RayCaptioning(model, device, precision, options.beam, ray, options.evidence)

    run = IndexRun(
        index,
        load,
        options,
        on_photo=on_photo,
        on_found=on_found,
        preparation=lambda: model_preparation(model, device),
        remote=remote if ray is not None else None,
    )
    try:
        run.run(paths, roots)
        if prune:
            run.prune(roots or paths)
    except KeyboardInterrupt:
        run.summary.interrupted = True
    finally:
        run.close()
        if index is not None:
            index.close()
    return run.summary
