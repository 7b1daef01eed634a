"""What the ``infogap`` commands share: the console, the server options, the SDK client and
batched uploads with a progress bar."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from infogap.client import Client
from infogap.server.cli.errors import TARGET_KEY, fail
from infogap.server.datasets.csv_files import count_rows

console = Console()

DEFAULT_TARGET = "localhost:50051"
BATCH = 1000


def _remember_target(context: typer.Context, target: str) -> str:
    # Left in the context's meta (shared by nested contexts) for "is the server running at ...?"
    context.meta[TARGET_KEY] = target
    return target


Target = Annotated[
    str, typer.Option(help="Address of the InfoGap server.", callback=_remember_target)
]
Catalog = Annotated[str, typer.Option(help="Item catalog.")]


def connect(target: str) -> Client:
    """An SDK client for the commands that talk to a running server; a secured server's key
    and CA come from INFOGAP_API_KEY and INFOGAP_CA_FILE."""
    ca_file = os.environ.get("INFOGAP_CA_FILE") or None
    try:
        return Client(
            target, api_key=os.environ.get("INFOGAP_API_KEY") or None, root_certificates=ca_file
        )
    except OSError as error:  # the CA file is read here, once
        fail(f"cannot read INFOGAP_CA_FILE {ca_file}: {error.strerror or error}")


def _batches(rows: Iterable[dict[str, Any]], size: int = BATCH) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def upload(
    path: Path, rows: Iterable[dict[str, Any]], send: Callable[[list], Any], what: str
) -> list[Any]:
    """Sends the rows read from ``path`` in batches of ``BATCH`` with a progress bar; returns the
    per-batch responses. The SDK's InfoGapError of a refused batch propagates."""
    responses = []
    with Progress(
        TextColumn(f"[bold]{what}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(what, total=count_rows(path))
        for batch in _batches(rows):
            responses.append(send(batch))
            progress.advance(task, len(batch))
    return responses
