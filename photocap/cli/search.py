"""`photocap search QUERY`: ranked full-text search over the index."""

from __future__ import annotations

import json
import sys
from typing import cast

import click

from photocap.cli import cli
from photocap.cli._options import db_option, json_option
from photocap.errors import IndexDatabaseError
from photocap.store import search as full_text
from photocap.store.index import BUILD_HINT, Source, open_index
from photocap.store.query import (
    MAX_TERMS,
    EmptyQueryError,
    ParsedQuery,
    SearchResults,
    parse_query,
)


def _stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


class _QueryCommand(click.Command):
    """Lets query words start with "-" (`photocap search dog -leash`): a single-dash token that is
    not one of the command's short options (`-n 5`, `-n5`, `-h`) is passed on as a word."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        short = {
            opt
            for param in self.get_params(ctx)
            for opt in (*param.opts, *param.secondary_opts)
            if len(opt) == 2 and opt[0] == "-" and opt != "--"
        }
        words_only = False
        kept = []
        for arg in args:
            words_only = words_only or arg == "--"
            is_option = arg in short or (arg[:2] in short and arg[2:].isdigit())
            if (
                not words_only
                and arg[:1] == "-"
                and arg[:2] != "--"
                and len(arg) > 1
                and not is_option
            ):
                arg = " " + arg  # no longer looks like an option; the query parser drops the dash
            kept.append(arg)
        return super().parse_args(ctx, kept)


@cli.command(cls=_QueryCommand)
@click.argument("query", nargs=-1)
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Show at most N results.",
)
@click.option(
    "--under",
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=str),
    help="Only photos inside this folder.",
)
@click.option(
    "--source",
    type=click.Choice(["model", "human"]),
    help="Only captions written by the model, or by a person.",
)
@click.option(
    "--held-back",
    is_flag=True,
    help="Only captions held back from the photos as unsure (below --min-confidence when "
    "indexed); without QUERY, all of them, least sure first.",
)
@click.option("--paths", "as_paths", is_flag=True, help="Print only paths, one a line (for xargs).")
@json_option
@db_option
def search(
    query: tuple[str, ...],
    limit: int,
    under: str | None,
    source: str | None,
    held_back: bool,
    as_paths: bool,
    as_json: bool,
    db_url: str | None,
) -> None:
    """Find photos whose captions match QUERY, best match first.

    Words match in any form ("dogs running" finds "a dog runs"); small words such as "on" or "the"
    are optional; "quoted phrases" match word for word (quote them for the shell: '"red car"').
    When no photo matches every word, the closest partial matches are shown and marked so.

    \b
    Examples:
      photocap search dog on beach
      photocap search '"red car"' --under ~/Pictures/2023
      photocap search sunset --paths | xargs xdg-open
      photocap search --held-back
    """
    if as_json and as_paths:
        raise click.UsageError("--json and --paths cannot be used together")
    if not query and not held_back:
        raise click.UsageError("give a QUERY (or --held-back to list the held-back captions)")
    try:
        parsed = parse_query(" ".join(query)) if query else ParsedQuery(terms=())
    except EmptyQueryError as exc:
        raise click.UsageError(str(exc)) from exc
    with open_index(db_url, create=False) as index:
        if index.is_empty():
            raise IndexDatabaseError("the index is empty", path=index.path, hint=BUILD_HINT)
        if query:
            results = full_text.search(
                index,
                parsed,
                limit=limit,
                under=under,
                source=cast(Source, source),
                held_back=held_back,
            )
        else:
            from photocap.store.listing import held_back_photos  # the review page's listing

            hits = held_back_photos(index, limit=limit, under=under)
            results = SearchResults(query=parsed, hits=hits, partial=False)

    if parsed.truncated:
        click.echo(f"Note: only the first {MAX_TERMS} words of the query were used.", err=True)
    if not results.hits:
        where = f" under {under}" if under else ""
        what = f"match: {parsed}" if query else "have a caption held back"
        click.echo(f"No photos {what}{where}", err=True)
    elif results.partial:
        click.echo(
            f"No photo matches every word of: {parsed}; showing the closest partial matches.",
            err=True,
        )

    if as_json:
        click.echo(_json(results))
    elif as_paths:
        for hit in results.hits:
            click.echo(hit.path)
    elif _stdout_is_terminal():
        if results.hits:
            from photocap.cli._search_table import print_table  # rich: only on a terminal

            print_table(results)
    else:
        for hit in results.hits:
            click.echo(f"{hit.rank}\t{_one_line(hit.caption)}\t{hit.path}")


def _one_line(caption: str) -> str:
    return " ".join(caption.split())


def _json(results: SearchResults) -> str:
    terms = len(results.query.terms)
    objects = [
        {
            "rank": hit.rank,
            "path": hit.path,
            "caption": hit.caption,
            "source": hit.source,
            "score": hit.score,
            "confidence": hit.confidence,
            "held_back": hit.held_back,
            "alt_text": hit.alt_text,
            "labels": [
                {"name": x.name, "probability": round(x.probability, 3)} for x in hit.labels
            ],
            "partial": results.partial,
            "matched_terms": hit.matched,
            "terms": terms,
        }
        for hit in results.hits
    ]
    return json.dumps(objects, indent=2, ensure_ascii=False)
