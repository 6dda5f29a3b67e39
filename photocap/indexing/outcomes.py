"""What an index run is asked to do (IndexOptions) and what it reports (PhotoOutcome, IndexSummary)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Literal

from photocap.alt_text import LabelLineOptions, label_line
from photocap.metadata import WriteMode
from photocap.model.confidence import DEFAULT_MIN_CONFIDENCE

if TYPE_CHECKING:
    from photocap.store.records import PhotoRecord

Outcome = Literal[
    "captioned",
    "held_back",
    "released",
    "withdrawn",
    "relabelled",
    "declined",
    "unchanged",
    "moved",
    "human",
    "reused",
    "paired",
    "failed",
]


@dataclass(frozen=True)
class IndexOptions:
    write: WriteMode = "auto"
    overwrite: bool = False  # replace captions a person wrote (also those already indexed)
    dry_run: bool = False  # caption, but write nothing (no photo, no index)
    beam: int = 3
    evidence: bool = True  # steer captions away from objects the photo shows no evidence of
    batch_size: int = 16
    workers: int = 2  # decoding processes (0: decode in this process)
    workers_from: int = 0  # fewer photos to caption than this: decode in this process
    threads: int | None = None  # torch threads of this process while captioning (None: torch's)
    keywords: bool = True  # write the labels' words into the photos' XMP dc:subject
    # captions less sure than this are indexed, marked held back, and not written into the photo
    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    # a held-back photo gets a label line of the objects it surely shows (None: nothing written)
    label_lines: LabelLineOptions | None = LabelLineOptions()

    def holds_back(self, confidence: float | None) -> bool:
        """Whether a caption of this confidence stays out of the photo (None: not the decoder's,
        such as a person's caption or a plain description: never held back)."""
        return confidence is not None and confidence < self.min_confidence

    def label_line(self, record: PhotoRecord) -> str | None:
        """The label line a photocap caption held back by this run gets ("May show: a cat."),
        None when it is written, when no object is sure enough, or with label lines off."""
        if (
            self.label_lines is None
            or record.source != "model"
            or not self.holds_back(record.confidence)
        ):
            return None
        return label_line(record.objects, record.labels or (), self.label_lines)


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
    labels: tuple[str, ...] = ()  # the names of the classes the encoder sees, most probable first
    labelled: bool = False  # labels were added to a photo that was not captioned now
    alt_text: str | None = None  # the label line written instead of a held-back caption


@dataclass
class OutcomeCounts:
    """How many photos ended each way but failed (`IndexSummary` and the watcher's summary)."""

    captioned: int = 0  # captioned now, written into the photo (or would be: a dry run)
    held_back: int = 0  # captioned now, indexed, kept out of the photo: unsure
    released: int = 0  # held back before, written now (a lower --min-confidence)
    withdrawn: int = 0  # written before, taken out of the photo now (a higher --min-confidence)
    relabelled: int = 0  # held back; its label line written, changed or taken out now
    declined: int = 0  # no honest caption possible (tiny, mostly transparent): none written
    unchanged: int = 0
    moved: int = 0
    human: int = 0
    reused: int = 0
    paired: int = 0  # given the caption of the other file of their RAW + JPEG pair
    labelled: int = 0  # photos given labels without being captioned (indexed before labels)
    label_lines: int = 0  # held back, a label line of sure objects written instead

    def count(self, outcome: PhotoOutcome) -> None:
        """Counts a photo that did not fail."""
        setattr(self, outcome.outcome, getattr(self, outcome.outcome) + 1)
        self.labelled += outcome.labelled
        self.label_lines += outcome.alt_text is not None


@dataclass
class IndexSummary(OutcomeCounts):
    """Counts of a run; `failed` maps each failed photo to the reason."""

    found: int = 0
    embedded: int = 0
    sidecar: int = 0
    pruned: int = 0
    temp_files_removed: int = 0  # left behind by a writer that was killed
    failed: dict[str, str] = field(default_factory=dict)
    not_captioned: dict[str, str] = field(default_factory=dict)  # declined photos: the reason
    seconds: float = 0.0
    caption_seconds: float = 0.0  # from the first decoded batch to the last caption stored
    model_id: str | None = None
    interrupted: bool = False

    def add(self, outcome: PhotoOutcome) -> None:
        if outcome.outcome == "failed":
            self.failed[outcome.path] = outcome.error or "failed"
        else:
            self.count(outcome)
        if outcome.outcome == "declined":
            self.not_captioned[outcome.path] = outcome.error or "no honest caption possible"
        if outcome.written in ("embedded", "sidecar"):
            setattr(self, outcome.written, getattr(self, outcome.written) + 1)

    @property
    def photos_per_second(self) -> float:
        """Photos captioned per second of the whole run (model loading and planning included)."""
        done = self.captioned + self.held_back  # written or not
        return done / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "photos_per_second": round(self.photos_per_second, 2)}
