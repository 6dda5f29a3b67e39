"""Rows and outcomes of the photos through the model: each photo's index row and outcome from its
caption, its verdict (`photos.degenerate`) or its labels alone, a RAW + JPEG pair's RAW with its
JPEG, all written into the photos through one path (`WriteStage.write`)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

from photocap.indexing.outcomes import IndexOptions, PhotoOutcome
from photocap.indexing.pairs import twin_result
from photocap.indexing.write import (
    failure_record,
    search_words,
    withdraw_from_photo,
    write_into_photo,
    write_keywords_into_photo,
)
from photocap.store.index import PhotoRecord, StoredLabel

if TYPE_CHECKING:
    from photocap.captioner import Caption
    from photocap.indexing.loader import LoadedPhoto
    from photocap.indexing.plan import PendingPhoto
    from photocap.model.labels import Label

    Labels = tuple[Label, ...]


class WriteStage:
    """The run's last stage for photos through the model: each photo's row and outcome, from its
    caption, its verdict (`photos.degenerate`) or its labels alone, written into the photo through
    one path (`write`). No index, no callbacks: the run commits and reports."""

    def __init__(self, options: IndexOptions, model_id: Callable[[], str]):
        self.options = options
        self.model_id = model_id  # asked when a caption is stored: the model is loaded by then
        self.twins: dict[str, PendingPhoto] = {}  # JPEG's path -> its RAW, captioned with it

    def captioned(
        self, pending: PendingPhoto, item: LoadedPhoto, caption: Caption | None, labels: Labels
    ) -> tuple[PhotoRecord, PhotoOutcome]:
        from photocap.model.labels import label_words  # the caption stage: torch is loaded

        stored = tuple(StoredLabel(x.index, x.name, x.probability) for x in labels)
        words = label_words(labels)
        found = {"labels": stored, "label_words": search_words(words)}
        names = tuple(x.name for x in labels)
        if pending.keep is not None:
            return self.labelled(pending.keep, found, words, names)
        assert caption is not None
        held = self.options.holds_back(caption.confidence)
        record = replace(
            new_record(pending, item),
            caption=caption.text,
            source="model",
            model_id=self.model_id(),
            score=caption.score,
            confidence=caption.confidence,
            held_back=held,
            objects=caption.objects,
            **found,
        )
        record = replace(record, alt_text=self.options.label_line(record))
        outcome = PhotoOutcome(
            pending.path,
            "held_back" if held else "captioned",
            caption.text,
            "model",
            labels=names,
            alt_text=record.alt_text,
        )
        return self.write(record, outcome, words)

    def declined(
        self, pending: PendingPhoto, item: LoadedPhoto
    ) -> tuple[PhotoRecord, PhotoOutcome]:
        """A photo the model must not caption as it is (`photos.degenerate`): a plain description
        ("A plain black image.") is written as a caption; otherwise none, and the reason is kept."""
        verdict = item.verdict
        assert verdict is not None and not verdict.captioned
        unlabelled = {"labels": (), "label_words": ""}  # what a classifier sees here is noise
        if pending.keep is not None:  # only its labels were wanted
            return self.labelled(pending.keep, unlabelled, [], ())
        record = replace(new_record(pending, item), **unlabelled)
        if verdict.description is not None:
            record = replace(
                record,
                caption=verdict.description,
                source="model",
                model_id=self.model_id(),
            )
            outcome = PhotoOutcome(pending.path, "captioned", verdict.description, "model")
            return self.write(record, outcome, [])
        record = replace(record, error=verdict.reason)  # status "ok": nothing is wrong with it
        return self.write(record, PhotoOutcome(pending.path, "declined", error=verdict.reason), [])

    def write(
        self, record: PhotoRecord, outcome: PhotoOutcome, words: list[str]
    ) -> tuple[PhotoRecord, PhotoOutcome]:
        """Write a new caption and photocap's keywords `words` into the photo. A caption held back
        (or none at all) is not written, and photocap's older caption, if the photo still has
        one, is taken out, unless a label line is written in its place; the keywords are written
        either way."""
        if self.options.dry_run:
            return record, replace(outcome, written="none")
        text = record.alt_text if record.held_back else record.caption  # a label line, or none
        if text is None:
            record, _, error = withdraw_from_photo(record, self.options)
            if error is None:
                record, _, error = write_keywords_into_photo(record, words, self.options)
            if error is not None:
                return record, replace(outcome, outcome="failed", error=error)
            return record, outcome
        record, written, error = write_into_photo(
            record, text, record.model_id or "unknown", self.options, words
        )
        if error is not None:
            return record, replace(outcome, outcome="failed", error=error)
        if record.source == "human":
            path = record.path
            return record, PhotoOutcome(
                path, "human", record.caption, "human", labels=outcome.labels
            )
        return record, replace(outcome, written=written)

    def labelled(
        self, keep: tuple[PhotoRecord, PhotoOutcome], found: dict, words: list[str], names: tuple
    ) -> tuple[PhotoRecord, PhotoOutcome]:
        """A photo decided without the model gets its labels, and when its caption is photocap's,
        the labels' words as keywords in the photo (a person's photo is left as they made it)."""
        record, outcome = keep
        record = replace(record, **found)
        outcome = replace(outcome, labels=names, labelled=outcome.outcome != "paired")
        if self.options.dry_run or record.source != "model" or not words:
            return record, outcome
        record, _written, error = write_keywords_into_photo(record, words, self.options)
        if error is not None:
            return record, replace(outcome, outcome="failed", error=error, labelled=False)
        return record, outcome

    def failures(
        self,
        items: list[LoadedPhoto],
        by_path: dict[str, PendingPhoto],
        orphans: list[PendingPhoto],
    ) -> list[tuple[PhotoRecord | None, PhotoOutcome]]:
        """Error rows (None for a photo gone with nothing known of it) and outcomes of photos that
        could not be decoded; a failed JPEG's RAW twin goes to `orphans`, captioned on its own."""
        found = []
        for item in items:
            pending = by_path[str(item.path)]
            reason = item.error or "unreadable"
            reason = f"{reason} ({item.hint})" if item.hint else reason
            outcome = PhotoOutcome(pending.path, "failed", error=reason)
            known = (pending.size, pending.mtime_ns)
            found.append((failure_record(pending.path, reason, known), outcome))
            if (twin := self.twins.pop(str(item.path), None)) is not None:
                orphans.append(twin)
        return found

    def results(
        self,
        jobs: list[tuple[PendingPhoto, LoadedPhoto]],
        decided: list[tuple[PendingPhoto, LoadedPhoto]],
        captions: dict[int, Caption],
        labels: list[Labels],
        writers: ThreadPoolExecutor | None = None,
    ) -> list[tuple[PhotoRecord, PhotoOutcome]]:
        """Rows and outcomes of a batch: the `decided` photos by their verdicts, the `jobs` by
        their captions (by position; none for those only labelled) and labels, all written; each
        followed by its RAW's when it is the JPEG of a RAW + JPEG pair. With `writers`, the
        photos are written by its threads (a write mostly waits for the disk), results in order."""
        each = writers.map if writers is not None else map

        def verdict(job: tuple[PendingPhoto, LoadedPhoto]) -> list:
            return self._with_twin(self.declined(*job), [])

        def caption(i: int) -> list:
            from photocap.model.labels import label_words  # the caption stage: torch is loaded

            (pending, item), found = jobs[i], labels[i]
            done = self.captioned(pending, item, captions.get(i), found)
            return self._with_twin(done, label_words(found))

        stored = list(each(verdict, decided)) + list(each(caption, range(len(jobs))))
        return [result for results in stored for result in results]

    def _with_twin(
        self, leader: tuple[PhotoRecord, PhotoOutcome], words: list[str]
    ) -> list[tuple[PhotoRecord, PhotoOutcome]]:
        """A JPEG's result, and its RAW's when they are a pair (`indexing.pairs`): the same
        caption and keywords `words`, written (or held back) as the JPEG's. A RAW whose JPEG ended
        without a caption stays in `twins`, to be captioned on its own."""
        twin = self.twins.get(leader[0].path)
        done = twin_result(twin, leader) if twin is not None else None
        if done is None:
            return [leader]
        del self.twins[leader[0].path]
        record, outcome = done
        return [
            leader,
            done if outcome.outcome == "human" else self.write(record, outcome, words),
        ]


def new_record(pending: PendingPhoto, item: LoadedPhoto) -> PhotoRecord:
    """The row of a photo as planned and decoded, before its caption."""
    return PhotoRecord(
        path=pending.path,
        size=pending.size,
        mtime_ns=pending.mtime_ns,
        sha256=pending.sha256,
        sidecar_mtime_ns=pending.sidecar_mtime_ns,
        width=item.width,
        height=item.height,
    )
