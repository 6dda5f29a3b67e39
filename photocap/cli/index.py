"""`photocap index`: caption a photo library, write the alt text, keep the index."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from photocap.cli import cli
from photocap.cli._exit_codes import EXIT_FAILED, EXIT_INTERRUPTED
from photocap.cli._options import (
    captioning_options,
    json_option,
    label_lines,
    workers_option,
    writing_options,
)


@cli.command("index")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@captioning_options
@workers_option("Decoding processes (0: decode in this process) [default: half the cores, 1-4].")
@click.option(
    "--threads",
    type=click.IntRange(1),
    default=None,
    help="torch threads for the model [default: the cores the decoding processes leave].",
)
@writing_options
@click.option(
    "--ray",
    "use_ray",
    is_flag=True,
    help="Decode and caption on a Ray cluster ($RAY_ADDRESS, else a local one started for the "
    "run); the photos must be on storage every node mounts at the same path.",
)
@click.option(
    "--ray-workers",
    type=click.IntRange(1),
    default=None,
    help="Captioning processes on the Ray cluster [default: one per GPU, else one per CPU].",
)
@click.option("--prune", is_flag=True, help="Remove index rows of photos that no longer exist.")
@click.option("--dry-run", is_flag=True, help="Caption and print; write nothing anywhere.")
@json_option
def index_command(
    paths,
    db_url,
    model_path,
    device,
    precision,
    beam,
    evidence,
    batch_size,
    workers,
    threads,
    write,
    overwrite,
    keywords,
    min_confidence,
    label_alt,
    label_alt_min,
    use_ray,
    ray_workers,
    prune,
    dry_run,
    as_json,
):
    """Caption every photo under PATHS, write the caption into it as alt text, and index it.

    Folders are walked recursively (hidden folders and sidecars skipped); the content decides what
    is a photo. Photos already indexed and unchanged are skipped without being read, so a rerun is
    fast, and an interrupted run resumes where it stopped. Captions a person wrote are indexed and
    kept. A caption the model is unsure of (under --min-confidence) is indexed but held back, not
    written into the photo; a blank or tiny image gets a plain description or no caption. Exits 1 when any photo failed (after finishing the others); the summary lists them.

    \b
    Examples:
      photocap index ~/Pictures
      photocap index ~/Pictures --write sidecar --prune
      photocap index holiday/ --dry-run
      photocap index ~/Pictures --min-confidence 0.5
      RAY_ADDRESS=ray://head:10001 photocap index /mnt/archive --ray
      photocap index ~/Pictures --json > summary.json
    """
    from photocap.cli._progress import IndexProgress, print_summary
    from photocap.indexing import IndexOptions, index_photos
    from photocap.indexing.model_input import default_threads, default_workers
    from photocap.indexing.ray_captioning import RayOptions

    if ray_workers is not None and not use_ray:
        raise click.UsageError("--ray-workers needs --ray")

    workers = default_workers() if workers is None else workers
    options = IndexOptions(
        write=write,
        overwrite=overwrite,
        keywords=keywords,
        min_confidence=min_confidence,
        label_lines=label_lines(label_alt, label_alt_min),
        dry_run=dry_run,
        beam=beam,
        evidence=evidence,
        batch_size=batch_size,
        workers=workers,
        threads=threads or default_threads(workers),
    )
    interactive = sys.stderr.isatty() and not as_json
    with IndexProgress(enabled=interactive) as progress:

        def on_photo(outcome):
            progress.advance(outcome)
            if dry_run and outcome.outcome == "captioned" and not as_json:
                progress.print(f"{outcome.path}\t{outcome.caption}")
            elif outcome.outcome == "failed" and interactive:
                progress.log(f"Error: {outcome.path}: {outcome.error}")

        summary = index_photos(
            paths,
            db=db_url,
            model=model_path,
            device=device,
            precision=precision,
            options=options,
            prune=prune and not dry_run,
            on_photo=on_photo,
            on_found=progress.found,
            ray=RayOptions(workers=ray_workers) if use_ray else None,
        )
    if as_json:
        click.echo(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2))
    else:
        print_summary(summary, dry_run)
    if summary.interrupted:
        click.echo("Interrupted: finished batches are saved; run again to resume.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if summary.failed:
        sys.exit(EXIT_FAILED)
