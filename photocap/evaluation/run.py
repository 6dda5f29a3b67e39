"""The evaluation run: caption photos with a model and score the captions against their references
(the COCO caption metrics and CHAIR)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from photocap.captioner import load_captioner
from photocap.errors import DataError
from photocap.evaluation.hallucination import chair, reference_objects
from photocap.model.beam import DecodeOptions
from photocap.model.inference import Precision


@dataclass
class EvalReport:
    scores: dict[str, float]  # BLEU-1..4, METEOR, ROUGE-L, CIDEr, CHAIR_s, CHAIR_i
    captions: dict[str, str]  # image path → generated caption
    model_id: str
    images: int
    failed: dict[str, str]  # image path → why it could not be read


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
    from photocap.evaluation.coco import coco_scores
    from photocap.indexing.loader import photo_loader

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
