"""Planning an index run: decide per photo, without reading pixels, what it needs.

Unchanged photos (size, mtime and sidecars as indexed) are not even opened; a photo of an
indexed size is hashed to find moved ones; captions already in a photo (a person's, or photocap's
from another index) are indexed as they are. What is left is pending: it needs the model.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from photocap.errors import ImageError, PhotocapError
from photocap.indexing.outcomes import IndexOptions, PhotoOutcome
from photocap.indexing.twins import twin_caption
from photocap.indexing.write import (
    caption_in,
    failure_record,
    reason_of,
    search_words,
    withdraw_from_photo,
    write_into_photo,
)
from photocap.metadata import CaptionRecord, read_keywords, sidecars_mtime_ns
from photocap.photos.decode import decode_photo
from photocap.photos.digest import file_sha256
from photocap.photos.kinds import unreadable_error
from photocap.store.index import Index, PhotoRecord

_FOLDER_ROWS = 100_000  # index rows kept for recently walked folders


@dataclass
class PendingPhoto:
    """A photo that needs captioning, as it was when planned."""

    path: str
    size: int
    mtime_ns: int
    sha256: str | None  # None: not hashed yet (no indexed photo has its size), done once stored
    sidecar_mtime_ns: int | None
    # Decided without the model but not yet labelled: the row and outcome it gets once labelled
    keep: tuple[PhotoRecord, PhotoOutcome] | None = None


@dataclass
class Plan:
    """A chunk's plan: photos for the model, rows to commit now, outcomes to report (in order)."""

    pending: list[PendingPhoto] = field(default_factory=list)
    records: list[PhotoRecord] = field(default_factory=list)
    outcomes: list[PhotoOutcome] = field(default_factory=list)

    def fail(self, path: str, reason: str) -> None:
        self.outcomes.append(PhotoOutcome(path, "failed", error=reason))
        if (record := failure_record(path, reason)) is not None:
            self.records.append(record)


class Planner:
    """Plans chunks of paths against the index. `index` is None on a dry run (nothing is
    changed); `lookup_index` is still read, so a dry run skips what is done."""

    def __init__(self, index: Index | None, lookup_index: Index | None, options: IndexOptions):
        self.index = index
        self.lookup_index = lookup_index
        self.options = options
        self._folder_rows = _FolderRows(lookup_index) if lookup_index is not None else None
        self._vouched: dict[str, PhotoRecord] = {}  # found unchanged by discovery, not yet planned

    def known(self, path: str, st: os.stat_result) -> bool:
        """Discovery's question: is this file (absolute path) indexed as it is now? Then it is
        not even opened, and `plan` reports it unchanged."""
        if self._folder_rows is None:
            return False
        row, listed = self._folder_rows.get(path)
        if row is None or not self._up_to_date(row, st, sidecars_mtime_ns(path, listed)):
            return False
        self._vouched[path] = row
        return True

    def plan(self, paths: list[str]) -> Plan:
        plan = Plan()
        unknown = []
        for path in paths:
            row = self._vouched.pop(path, None) if self._vouched else None
            if row is not None:
                plan.outcomes.append(PhotoOutcome(path, "unchanged", row.caption, row.source))
            else:
                unknown.append(path)
        if not unknown:
            return plan
        rows = self.lookup_index.lookup(unknown) if self.lookup_index is not None else {}
        stats = self._stat_all(unknown, plan)
        sizes = self._sizes_present(st.st_size for st in stats.values())
        for path, st in stats.items():
            try:
                row = rows.get(os.path.abspath(path))
                sidecar = sidecars_mtime_ns(path)
                if row is not None and self._up_to_date(row, st, sidecar):
                    plan.outcomes.append(PhotoOutcome(path, "unchanged", row.caption, row.source))
                    continue
                if row is not None and self._up_to_date(row, st, sidecar, gated=False):
                    # as indexed, but on the other side of --min-confidence now
                    record, outcome = self._regate(path, row)
                    plan.records.append(record)
                    plan.outcomes.append(outcome)
                    continue
                if row is not None and self._settled(row) and row.unchanged(*_now(st), sidecar):
                    # indexed before labels existed: only the labels are missing
                    plan.pending.append(
                        _to_label(row, PhotoOutcome(path, "unchanged", row.caption, row.source))
                    )
                    continue
                # only a photo of an indexed size can be one that moved (or was touched)
                sha = file_sha256(path) if row is not None or st.st_size in sizes else None
                decided = self._decide(path, st, sidecar, sha, row)
            except PhotocapError as exc:
                plan.fail(path, reason_of(exc))
                continue
            except OSError as exc:
                plan.fail(path, reason_of(unreadable_error(Path(path), exc)))
                continue
            if isinstance(decided, PendingPhoto):
                if row is not None and row.status == "error" and (broken := _still_broken(path)):
                    plan.fail(path, broken)  # known broken: no need to load the model
                    continue
                plan.pending.append(decided)
            else:
                record, outcome = decided
                plan.records.append(record)
                plan.outcomes.append(outcome)
        return plan

    def _up_to_date(
        self,
        row: PhotoRecord,
        st: os.stat_result,
        sidecar_mtime_ns: int | None,
        gated: bool = True,
    ) -> bool:
        """The row says all there is: the photo and its sidecars are as indexed, successfully,
        labels included, and (when `gated`) its caption is in the photo or held back as this
        run's --min-confidence says."""
        return (
            self._settled(row)
            and row.labels is not None
            and row.unchanged(st.st_size, st.st_mtime_ns, sidecar_mtime_ns)
            and not (gated and self._gate_moved(row))
        )

    def _gate_moved(self, row: PhotoRecord) -> bool:
        """photocap's caption is held back but this run's --min-confidence would write it, or the
        other way round (never on a dry run or with --write none: nothing is written then)."""
        return (
            self.index is not None
            and self.options.write != "none"
            and row.source == "model"
            and row.caption is not None
            and (
                row.held_back != self.options.holds_back(row.confidence)
                or row.alt_text != self.options.label_line(row)
            )
        )

    def _regate(self, path: str, row: PhotoRecord) -> tuple[PhotoRecord, PhotoOutcome]:
        """Write a caption held back before (released), or take one written before out of the
        photo (withdrawn), as this run's --min-confidence says; a held-back caption's label line
        is written, changed or taken out as this run's label-line settings say (relabelled). A
        person's caption stays."""
        held = self.options.holds_back(row.confidence)
        line = self.options.label_line(row)  # None unless held back
        kind = "released" if not held else "relabelled" if row.held_back else "withdrawn"
        record = replace(row, held_back=held, alt_text=line)
        text = line if held else row.caption
        if text is None:
            record, where, error = withdraw_from_photo(record, self.options)
        else:
            model_id = row.model_id or "unknown"
            record, where, error = write_into_photo(record, text, model_id, self.options)
        outcome = PhotoOutcome(path, kind, row.caption, "model", written=where, alt_text=line)
        if error is not None:
            return record, replace(outcome, outcome="failed", error=error)
        if record.source == "human":  # a person captioned it meanwhile
            return record, PhotoOutcome(path, "human", record.caption, "human")
        return record, outcome

    def _settled(self, row: PhotoRecord) -> bool:
        """Indexed successfully, and not a human caption that this run is to replace."""
        return row.status == "ok" and not (self.options.overwrite and row.source == "human")

    def _stat_all(self, paths: list[str], plan: Plan) -> dict[str, os.stat_result]:
        stats = {}
        for path in paths:
            try:
                stats[path] = os.stat(path)
            except OSError as exc:
                plan.fail(path, reason_of(unreadable_error(Path(path), exc)))
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
    ) -> PendingPhoto | tuple[PhotoRecord, PhotoOutcome]:
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
        paired = False
        if same_bytes and row.sidecar_mtime_ns == sidecar:
            record = replace(row, **base)  # touched (new mtime), same bytes
            return _labelled(record, PhotoOutcome(path, "unchanged", row.caption, row.source))
        if same_bytes:  # the labels of these pixels are known already
            base |= {"labels": row.labels, "label_words": row.label_words}
        if row is None and sha is not None and self.lookup_index is not None:
            for old in self.lookup_index.find_by_hash(sha):
                if old.status == "ok" and not os.path.exists(old.path):  # moved or renamed
                    return self._moved(path, old, base)
        found = caption_in(path)
        if found is None or found.source == "model":  # a RAW + JPEG pair: see indexing.twins
            twin = twin_caption(path)
            human = twin is not None and twin.source == "human" and not self.options.overwrite
            if human or (twin is not None and twin.source == "model" and found is None):
                found, paired = twin, True
        if found is not None and sha is None:  # indexed without captioning: hash it now
            base["sha256"] = file_sha256(path)
        if paired and found.source == "model":
            return self._paired(path, base, found)
        if found is not None and found.source == "human" and not self.options.overwrite:
            record = PhotoRecord(**base, caption=found.text, source="human")
            return _labelled(record, PhotoOutcome(path, "human", found.text, "human"))
        if found is not None and found.source == "model" and (row is None or same_bytes):
            # photocap captioned it before (into another index, or only a sidecar changed):
            # index that caption as it is
            if "labels" not in base and (words := _our_keywords(path)):
                base |= {"labels": (), "label_words": search_words(words)}  # as we wrote them
            fields = {**base, "caption": found.text, "source": "model", "model_id": found.model_id}
            record = replace(row, **fields) if row is not None else PhotoRecord(**fields)
            outcome = "unchanged" if row is not None and row.caption == found.text else "reused"
            return _labelled(record, PhotoOutcome(path, outcome, found.text, "model"))
        return PendingPhoto(path, st.st_size, st.st_mtime_ns, sha, sidecar)

    def _paired(
        self, path: str, base: dict, found: CaptionRecord
    ) -> PendingPhoto | tuple[PhotoRecord, PhotoOutcome]:
        """A photo without a caption whose RAW + JPEG twin has photocap's: it gets that caption."""
        model_id = found.model_id or "unknown"
        record = PhotoRecord(**base, caption=found.text, source="model", model_id=model_id)
        outcome = PhotoOutcome(path, "paired", found.text, "model", written="none")
        if self.index is not None and self.options.write != "none":
            record, written, error = write_into_photo(record, found.text, model_id, self.options)
            if error is not None:
                return record, PhotoOutcome(path, "failed", found.text, "model", error=error)
            if record.source == "human":
                return _labelled(record, PhotoOutcome(path, "human", record.caption, "human"))
            outcome = replace(outcome, written=written)
        return _labelled(record, outcome)

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
            and not old.held_back
            and self.options.write != "none"
            and caption_in(path) is None
        ):
            model_id = old.model_id or "unknown"
            record, written, error = write_into_photo(record, old.caption, model_id, self.options)
            if error is not None:
                return record, PhotoOutcome(path, "failed", old.caption, "model", error=error)
        outcome = PhotoOutcome(
            path, "moved", old.caption, old.source, written=written, moved_from=old.path
        )
        return record, outcome


class _FolderRows:
    """Index rows of the files in recently walked folders: one query per folder, bounded in size."""

    def __init__(self, index: Index, max_rows: int = _FOLDER_ROWS):
        self.index = index
        self.max_rows = max_rows
        # folder -> (its files' rows, the names it held when listed)
        self._folders: OrderedDict[str, tuple[dict[str, PhotoRecord], set[str]]] = OrderedDict()
        self._rows = 0

    def get(self, path: str) -> tuple[PhotoRecord | None, set[str] | None]:
        """The row of `path` (None: not indexed) and the names in its folder, in lower case
        (None: it could not be listed)."""
        folder = os.path.dirname(path)
        loaded = self._folders.get(folder)
        if loaded is None:
            loaded = self._load(folder)
            self._folders[folder] = loaded
            self._rows += len(loaded[0])
            while self._rows > self.max_rows and len(self._folders) > 1:
                self._rows -= len(self._folders.popitem(last=False)[1][0])
        else:
            self._folders.move_to_end(folder)
        rows, names = loaded
        return rows.get(path), names or None

    def _load(self, folder: str) -> tuple[dict[str, PhotoRecord], set[str]]:
        try:
            names = set(os.listdir(folder))
        except OSError:
            return {}, set()
        paths = (os.path.join(folder, n) for n in names if not n.startswith("."))
        return self.index.lookup(paths), {n.lower() for n in names}


def _our_keywords(path: str) -> tuple[str, ...]:
    """The keywords photocap wrote into the photo with its caption (empty when none or unreadable)."""
    try:
        return read_keywords(path).photocap
    except PhotocapError:
        return ()


def _now(st: os.stat_result) -> tuple[int, int]:
    return st.st_size, st.st_mtime_ns


def _to_label(record: PhotoRecord, outcome: PhotoOutcome) -> PendingPhoto:
    """A photo the model only has to label: then it gets `record` and `outcome`."""
    return PendingPhoto(
        record.path,
        record.size,
        record.mtime_ns,
        record.sha256,
        record.sidecar_mtime_ns,
        keep=(record, outcome),
    )


def _labelled(
    record: PhotoRecord, outcome: PhotoOutcome
) -> PendingPhoto | tuple[PhotoRecord, PhotoOutcome]:
    """The decision as it is when the record has labels, else a photo the model has to label."""
    return (record, outcome) if record.labels is not None else _to_label(record, outcome)


def _still_broken(path: str) -> str | None:
    """Why a photo that failed before still cannot be decoded; None when it now decodes."""
    try:
        decode_photo(path)
    except ImageError as exc:
        return reason_of(exc)
    except Exception as exc:  # a decoder bug on one odd file must not stop the run
        return f"unexpected error while decoding: {type(exc).__name__}: {exc}"
    return None
