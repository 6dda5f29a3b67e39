"""`photocap search` on a terminal: a rich table with the matched words highlighted."""

from __future__ import annotations

from pathlib import Path

from rich import box
from rich.console import Console
from rich.style import Style
from rich.table import Table
from rich.text import Text

from photocap.store.query import SearchResults

HIGHLIGHT = "bold yellow"


def print_table(results: SearchResults) -> None:
    Console().print(_table(results))


def caption_text(caption: str, highlights: tuple[tuple[int, int], ...]) -> Text:
    """The caption with its matched words highlighted."""
    text = Text(caption)
    for start, end in highlights:
        text.stylize(HIGHLIGHT, start, end)
    return text


def _table(results: SearchResults) -> Table:
    terms = len(results.query.terms)
    title = f"Partial matches for: {results.query}" if results.partial else None
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("#", justify="right", style="dim")
    if results.partial:
        table.add_column("Words", justify="right")
    table.add_column("Caption", ratio=1)
    table.add_column("Sees", style="dim", ratio=1)
    table.add_column("Path", overflow="fold")
    for hit in results.hits:
        cells: list[Text | str] = [str(hit.rank)]
        if results.partial:
            cells.append(f"{hit.matched}/{terms}")
        caption = caption_text(hit.caption, hit.highlights)
        if hit.held_back and hit.confidence is not None:
            caption.append(f" (held back: {hit.confidence:.0%} sure)", style="dim")
        if hit.alt_text:
            caption.append(f" written instead: {hit.alt_text}", style="italic")
        cells.append(caption)
        cells.append(", ".join(f"{x.name} {x.probability:.0%}" for x in hit.labels[:3]))
        cells.append(Text(hit.path, style=Style(link=Path(hit.path).as_uri())))
        table.add_row(*cells)
    return table
