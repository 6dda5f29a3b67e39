"""`photocap review`: a local web page to check and correct captions."""

from __future__ import annotations

import threading
from pathlib import Path

import click

from photocap.cli import cli
from photocap.cli._options import db_option, write_option


@cli.command()
@db_option
@click.option(
    "--under",
    type=click.Path(file_okay=False, path_type=Path),
    help="Show only the photos inside this folder.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port on 127.0.0.1 (0: a free one).",
)
@click.option("--browser/--no-browser", default=True, help="Open the page in a web browser.")
@write_option
def review(db_url, under, port, browser, write):
    """Check and correct captions on a local web page.

    \b
    Serves a page on 127.0.0.1 only: the photos, their captions (lowest confidence first),
    filters, and inline editing (Enter saves, Esc cancels, arrow keys move). A saved caption
    is written into the photo as a person's caption and into the index; `photocap train
    --from-index` learns from them. The first line printed is the page's URL with its secret
    token; Ctrl-C stops the server.

    \b
    Examples:
      photocap review
      photocap review --under ~/Pictures/2024 --no-browser --port 8765
    """
    from photocap.review.app import HOST, bind, catch_stop_signals, create_app, serve
    from photocap.review.guard import new_token
    from photocap.store.index import open_index

    index = open_index(db_url, create=False)
    try:
        sock = bind(port)
        port = sock.getsockname()[1]
        token = new_token()
        app = create_app(index, token=token, port=port, scope=under, write=write)
        url = f"http://{HOST}:{port}/?token={token}"
        stop_asked = catch_stop_signals()  # from the moment the URL is out
        click.echo(url)  # the first line of stdout: scripts and tests read it
        click.echo("Ctrl-C stops the server.", err=True)
        if browser:
            import webbrowser

            threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
        serve(app, sock, stop_asked)
    finally:
        index.close()
