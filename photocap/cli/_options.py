"""Option decorators shared by several commands, declared once so that their names, defaults and
help stay the same everywhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import click

from photocap.model.confidence import DEFAULT_LABEL_EVIDENCE, DEFAULT_MIN_CONFIDENCE

if TYPE_CHECKING:
    from photocap.alt_text import LabelLineOptions

F = TypeVar("F", bound=Callable)


def compose(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    """One decorator applying `decorators` in the order written (the order `--help` lists them)."""

    def apply(f: F) -> F:
        for decorator in reversed(decorators):
            f = decorator(f)
        return f

    return apply


device_option = click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda", "mps"]),
    default="auto",
    show_default=True,
    help="Where the model runs; auto picks cuda, then mps, then cpu.",
)
precision_option = click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16"]),
    default="auto",
    show_default=True,
    help="Encoder arithmetic; auto: bf16 on CUDA and on CPUs with AMX (about twice as fast "
    "there, same caption quality), fp32 elsewhere.",
)
model_option = click.option(
    "--model",
    "model_path",
    type=click.Path(dir_okay=False, path_type=str),
    default=None,
    help="Model file (.safetensors); default: $PHOTOCAP_MODEL or the shipped model.",
)
beam_option = click.option(
    "--beam",
    type=click.IntRange(1, 20),
    default=3,
    show_default=True,
    help="Beam size (1 = greedy).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
db_option = click.option(
    "--db",
    "db_url",
    envvar="PHOTOCAP_DB",
    default=None,
    help="Index database URL or SQLite file; default: $PHOTOCAP_DB or ~/.local/share/photocap/index.db.",
)


def batch_size_option(default: int, help: str | None = None) -> Callable[[F], F]:
    """`--batch-size`: photos (or captions, when training) processed together."""
    return click.option(
        "--batch-size", type=click.IntRange(1), default=default, show_default=True, help=help
    )


def workers_option(help: str | None = None, default: int | None = None) -> Callable[[F], F]:
    """`--workers`: decoding processes; without a default the help says what the command picks."""
    return click.option(
        "--workers",
        type=click.IntRange(0),
        default=default,
        show_default=default is not None,
        help=help,
    )


write_option = click.option(
    "--write",
    type=click.Choice(["auto", "embed", "sidecar", "none"]),
    default="auto",
    show_default=True,
    help="auto: embed in JPEG, sidecar <name>.<ext>.xmp for other formats; none: index only.",
)
overwrite_option = click.option(
    "--overwrite/--no-overwrite",
    default=False,
    help="Replace captions a person wrote (also those already indexed).",
)

keywords_option = click.option(
    "--keywords/--no-keywords",
    default=True,
    help="Write what the encoder sees into the photos' XMP keywords (dc:subject) beside "
    "photocap's captions; a person's keywords are kept. Labels are indexed either way.",
)

min_confidence_option = click.option(
    "--min-confidence",
    type=click.FloatRange(0, 1),
    default=DEFAULT_MIN_CONFIDENCE,
    show_default=True,
    help="Captions less sure than this (0-1) are indexed and searchable but held back: not "
    "written into the photo as alt text (`photocap search --held-back` lists them). A rerun "
    "with another value writes or withdraws photocap's captions, never a person's. 0 writes all.",
)

label_alt_option = click.option(
    "--label-alt/--no-label-alt",
    default=True,
    show_default=True,
    help="A photo whose caption is held back gets a short label line instead of no alt text, "
    'naming only objects photocap is sure of ("May show: a cat, a laptop."); marked label-based '
    "in the photo's metadata. --no-label-alt writes nothing for held-back photos.",
)

label_alt_min_option = click.option(
    "--label-alt-min",
    type=click.FloatRange(0, 1),
    default=DEFAULT_LABEL_EVIDENCE,
    show_default=True,
    help="How sure (0-1) photocap must be of an object to name it in a label line. A rerun with "
    "another value rewrites or withdraws photocap's label lines.",
)


evidence_option = click.option(
    "--evidence/--no-evidence",
    default=True,
    show_default=True,
    help="Steer captions away from objects the photo shows no evidence of (a person, a dog the "
    "detectors do not see). --no-evidence decodes as photocap did before it had detectors.",
)


def label_lines(label_alt: bool, label_alt_min: float) -> LabelLineOptions | None:
    """The label-line settings the two options ask for (None: no label lines)."""
    from photocap.alt_text import LabelLineOptions  # not imported by `photocap search`

    return LabelLineOptions(min_evidence=label_alt_min) if label_alt else None


# `photocap index` and `photocap watch`: which index, which model, how it runs ...
captioning_options = compose(
    db_option,
    model_option,
    device_option,
    precision_option,
    beam_option,
    evidence_option,
    batch_size_option(16, "Photos per batch."),
)
# ... and what is written into the photos
writing_options = compose(
    write_option,
    overwrite_option,
    keywords_option,
    min_confidence_option,
    label_alt_option,
    label_alt_min_option,
)
