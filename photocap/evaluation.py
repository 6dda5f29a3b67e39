"""Evaluate a model on captioned photos with the COCO caption metrics."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from photocap.captioner import load_captioner
from photocap.errors import DataError
from photocap.model.beam import DecodeOptions
from photocap.model.inference import Precision
from photocap.model.objects import SCENE, object_table


@dataclass
class EvalReport:
    scores: dict[str, float]  # BLEU-1..4, METEOR, ROUGE-L, CIDEr, CHAIR_s, CHAIR_i
    captions: dict[str, str]  # image path → generated caption
    model_id: str
    images: int
    failed: dict[str, str]  # image path → why it could not be read


def read_references(
    csv_path: Path, images_dir: Path, split: Path | None = None
) -> tuple[list[Path], list[list[str]]]:
    """Reference captions from an `image,caption` CSV, grouped by image, optionally limited to a split file."""
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"image", "caption"} <= set(reader.fieldnames):
                raise DataError("needs a header with columns image,caption", path=csv_path)
            grouped: dict[str, list[str]] = defaultdict(list)
            for row in reader:
                if row["image"] and row["caption"] and row["caption"].strip():
                    grouped[row["image"]].append(row["caption"].strip())
    except FileNotFoundError:
        raise DataError("captions file not found", path=csv_path) from None
    except UnicodeDecodeError:
        raise DataError("captions file is not UTF-8", path=csv_path) from None
    names = sorted(grouped)
    if split is not None:
        try:
            wanted = split.read_text(encoding="utf-8").split()
        except FileNotFoundError:
            raise DataError("split file not found", path=split) from None
        missing = [n for n in wanted if n not in grouped]
        if missing:
            raise DataError(
                f"{len(missing)} images of the split have no caption, e.g. {missing[0]}", path=split
            )
        names = wanted
    if not names:
        raise DataError("no captions found", path=csv_path)
    return [images_dir / n for n in names], [grouped[n] for n in names]


def evaluate_model(
    model_path: str | Path | None,
    images: Sequence[Path],
    references: Sequence[Sequence[str]],
    beam: int = 3,
    batch_size: int = 32,
    workers: int = 1,
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
    precision: Precision = "auto",
    evidence: bool = True,
) -> EvalReport:
    """Caption `images` with the model and score the captions against `references`, object
    hallucination (CHAIR: objects no reference names) included; `evidence`: steered decoding."""
    from photocap.indexing.loader import photo_loader
    from photocap.metrics import coco_scores

    captioner = load_captioner(model_path, device, precision)
    refs = {str(p): list(r) for p, r in zip(images, references, strict=True)}
    options = DecodeOptions(beam_size=beam, evidence=evidence)
    hypotheses: dict[str, str] = {}
    failed: dict[str, str] = {}
    for batch in photo_loader(
        list(images), captioner.prepare, batch_size=batch_size, workers=workers
    ):
        for item in batch.failed:
            failed[str(item.path)] = item.error or "unreadable"
        if batch.ok:
            for item, caption in zip(
                batch.ok, captioner.caption_tensors(batch.tensors, options), strict=True
            ):
                hypotheses[str(item.path)] = caption.text
        if progress:
            progress(len(hypotheses) + len(failed), len(images))
    if not hypotheses:
        raise DataError("no image could be read", hint=next(iter(failed.values()), None))
    scores = coco_scores(hypotheses, {k: refs[k] for k in hypotheses})
    hallucination, _ = chair(
        list(hypotheses.values()), reference_objects([refs[k] for k in hypotheses])
    )
    scores |= {"CHAIR_s": hallucination.chair_s, "CHAIR_i": hallucination.chair_i}
    return EvalReport(scores, hypotheses, captioner.model_id, len(hypotheses), failed)


@dataclass(frozen=True)
class Chair:
    """Object hallucination (CHAIR, Rohrbach et al. 2018) of a set of captions."""

    captions: int
    mentions: int  # object mentions (groups named, once per caption)
    hallucinated: int  # mentions of a group the photo does not hold
    hallucinating_captions: int  # captions with at least one

    @property
    def chair_s(self) -> float:
        """Share of captions that name an object the photo does not hold."""
        return self.hallucinating_captions / self.captions if self.captions else 0.0

    @property
    def chair_i(self) -> float:
        """Share of object mentions that are hallucinated."""
        return self.hallucinated / self.mentions if self.mentions else 0.0

    @property
    def mentions_per_caption(self) -> float:
        return self.mentions / self.captions if self.captions else 0.0


def chair(
    captions: Sequence[str], truths: Sequence[set[str]], scenes: bool = False
) -> tuple[Chair, list[list[str]]]:
    """CHAIR of `captions` against the object groups each photo holds (`truths`, e.g. every group
    its references name); scene groups (water, grass) count only with `scenes`, as the standard
    measure counts objects. Also returns each caption's hallucinated groups."""
    table = object_table()
    mentions = hallucinated = bad = 0
    wrong_per_caption = []
    for text, truth in zip(captions, truths, strict=True):
        named = {g for g, _ in table.mentions(text) if scenes or table.kind(g) != SCENE}
        wrong = sorted(named - truth)
        mentions += len(named)
        hallucinated += len(wrong)
        bad += bool(wrong)
        wrong_per_caption.append(wrong)
    return Chair(len(captions), mentions, hallucinated, bad), wrong_per_caption


def reference_objects(references: Sequence[Sequence[str]]) -> list[set[str]]:
    """The object groups each photo holds by its references: any reference naming one."""
    table = object_table()
    return [table.groups_in(refs) for refs in references]
