"""Before training: the user's photos checked, hashed and encoded (features cached), what cannot
be used reported or refused, and the run folder checked for a resume."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from photocap.training.data import CaptionSet
from photocap.training.features import FeatureCache
from photocap.training.report import write_json
from photocap.training.user_data import MIN_IMAGES
from photocap.training.user_images import check_readable, hash_images, merge_by_content

from photocap.errors import DataError
from photocap.evaluation.captions_csv import Problem, UserCaptions
from photocap.model.encoders import Encoder
from photocap.model.transforms import to_tensor

if TYPE_CHECKING:
    from photocap.training.finetune import FinetuneOptions, TrainEvents


@dataclass
class PreparedData:
    data: UserCaptions
    shas: list[str]
    problems: list[Problem]


def usable_photos(
    data: UserCaptions,
    encoder: Encoder,
    square: int | None,
    options: FinetuneOptions,
    cache: FeatureCache | None,
    events: TrainEvents,
) -> PreparedData:
    """Drop images that are missing or do not decode; compute (or find) their features."""
    shas, problems = hash_images(data)
    found = [i for i, s in enumerate(shas) if s is not None]
    data, kept = merge_by_content(data.subset(found), [shas[i] for i in found])
    paths = data.images
    if cache is not None:
        prepare = functools.partial(to_tensor, spec=encoder.spec, via=square)
        device = next(encoder.parameters()).device
        todo = sum(not cache.cached(s) for s in kept)
        if todo:
            events.message(f"computing encoder features of {todo} photos (cached for next time)")

        def progress(done: int, total: int) -> None:
            events.features(done, total)
            if events.should_stop():
                raise KeyboardInterrupt

        failed = cache.ensure_photos(
            paths,
            kept,
            prepare,
            workers=options.workers,
            device=device,
            progress=progress,
            min_side=square or encoder.spec.input_size,
        )
    else:
        failed = check_readable(paths)
    problems += [Problem(data.lines[i][0], data.names[i], reason) for i, reason in failed.items()]
    good = [i for i in range(len(data)) if i not in failed]
    data = data.subset(good)
    return PreparedData(data, [kept[i] for i in good], problems)


def refuse_or_report(
    prepared: list[PreparedData], options: FinetuneOptions, events
) -> list[Problem]:
    problems = [p for part in prepared for p in part.problems]
    rows = [p for part in prepared for p in part.data.skipped]
    if options.strict and problems:
        listed = "; ".join(str(p) for p in problems[:5])
        more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise DataError(
            f"{len(problems)} image(s) cannot be used: {listed}{more}",
            path=options.data,
            hint="fix or remove those rows, or leave out --strict to skip them",
        )
    for kind, items in (("rows", rows), ("images", problems)):
        if items:
            events.message(f"skipped {len(items)} {kind}:")
            for p in items:
                events.message(f"  {p}")
    usable = sum(len(part.data) for part in prepared)
    if usable < MIN_IMAGES:
        reason = (
            f" ({len(problems)} image(s) and {len(rows)} row(s) skipped)"
            if problems or rows
            else ""
        )
        raise DataError(
            f"only {usable} usable image(s){reason}; at least {MIN_IMAGES} are needed to learn "
            "from and to hold some out for validation",
            path=options.data,
            hint="add more captioned photos",
        )
    return rows + problems


def caption_set(data: UserCaptions, shas: list[str]) -> CaptionSet:
    return CaptionSet(list(shas), list(data.names), [list(c) for c in data.captions])


def file_digest(path: Path | None) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path else None


def check_run(work: Path, fingerprint: dict, options: FinetuneOptions, events) -> bool:
    """True when the run continues from `work`; a fresh run clears old checkpoints."""
    saved = work / "run.json"
    last = work / "last.safetensors"
    if options.resume and last.exists():
        previous = json.loads(saved.read_text()) if saved.exists() else {}
        changed = sorted(k for k in fingerprint if previous.get(k) != fingerprint[k])
        if changed:
            raise DataError(
                f"cannot resume: {', '.join(changed)} changed since the interrupted run",
                path=work,
                hint="run again with the same data and options, or without --resume to start over",
            )
        return True
    if options.resume:
        events.message(f"nothing to resume in {work}; starting from the beginning")
    for name in ("last.safetensors", "best.safetensors"):
        (work / name).unlink(missing_ok=True)
    write_json(work / "run.json", fingerprint)
    return False
