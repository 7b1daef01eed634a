"""Commands that talk to a running server through the SDK: ``import users|items|events``,
``train`` and ``recommend`` (the experiments have their own module). A refusal of the server
reaches the user as one line (``errors.OneLineErrors``)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from infogap.client import Client
from infogap.server.cli.common import DEFAULT_TARGET, Catalog, Target, connect, console, upload
from infogap.server.datasets import csv_files

import_app = typer.Typer(help="Import CSV files into a running server.", no_args_is_help=True)

Attributes = Annotated[
    str | None,
    typer.Option(help="Comma-separated columns to keep as attributes (default: all others)."),
]
BinsOption = Annotated[
    list[str],
    typer.Option("--bin", help="Band a numeric column, e.g. age=18,25,35,45,56."),
]


def _attribute_mapping(attributes: str | None, bins: list[str]) -> csv_files.AttributeMapping:
    parsed_bins = {}
    for spec in bins:
        column, _, edges = spec.partition("=")
        try:
            parsed_bins[column] = csv_files.Bins.parse(edges)
        except ValueError as error:
            raise typer.BadParameter(f"{spec!r}: {error}", param_hint="--bin") from error
    columns = tuple(a for a in attributes.split(",") if a) if attributes is not None else None
    return csv_files.AttributeMapping(columns, parsed_bins)


def send_users(client: Client, path: Path, users: Iterable[dict[str, Any]]) -> None:
    """Upserts the users read from ``path``, with a progress bar and a count."""
    responses = upload(path, users, client.upsert_users, "users")
    console.print(f"{sum(r.upserted_count for r in responses):,} users upserted")


def send_items(client: Client, path: Path, items: Iterable[dict[str, Any]]) -> None:
    """Upserts the items read from ``path``, with a progress bar and a count."""
    responses = upload(path, items, client.upsert_items, "items")
    console.print(f"{sum(r.upserted_count for r in responses):,} items upserted")


def send_events(client: Client, path: Path, events: Iterable[dict[str, Any]]) -> None:
    """Records the events read from ``path``, with a progress bar, and counts the stored ones
    and the duplicates skipped."""
    responses = upload(path, events, client.record, "events")
    stored = sum(r.stored_count for r in responses)
    duplicates = sum(r.duplicate_count for r in responses)
    console.print(f"{stored:,} events stored, {duplicates:,} duplicates skipped")


@import_app.command("users")
def import_users(
    path: Path,
    target: Target = DEFAULT_TARGET,
    id_column: str = "user_id",
    attributes: Attributes = None,
    bins: BinsOption = [],  # noqa: B006 (typer reads the default)
) -> None:
    """Upsert users from a CSV file."""
    rows = csv_files.read_users(path, id_column, _attribute_mapping(attributes, bins))
    with connect(target) as client:
        send_users(client, path, rows)


@import_app.command("items")
def import_items(
    path: Path,
    target: Target = DEFAULT_TARGET,
    catalog: Catalog = "default",
    id_column: str = "item_id",
    tags_column: Annotated[str | None, typer.Option(help="Column holding tags.")] = None,
    tags_separator: str = "|",
    attributes: Attributes = None,
    bins: BinsOption = [],  # noqa: B006
) -> None:
    """Upsert items from a CSV file."""
    rows = csv_files.read_items(
        path, id_column, catalog, _attribute_mapping(attributes, bins), tags_column, tags_separator
    )
    with connect(target) as client:
        send_items(client, path, rows)


@import_app.command("events")
def import_events(
    path: Path,
    target: Target = DEFAULT_TARGET,
    catalog: Catalog = "default",
    user_column: str = "user_id",
    item_column: str = "item_id",
    event_type: Annotated[str | None, typer.Option("--type", help="Fixed event type.")] = None,
    type_column: Annotated[str | None, typer.Option(help="Column holding the type.")] = None,
    value_column: Annotated[str | None, typer.Option(help="Column holding the value.")] = None,
    time_column: Annotated[str | None, typer.Option(help="Column holding the time.")] = None,
    time_format: Annotated[str, typer.Option(help="'unix' seconds or 'iso' 8601.")] = "unix",
    id_column: Annotated[
        str | None, typer.Option(help="Column holding event ids (default: derived).")
    ] = None,
) -> None:
    """Record events from a CSV file (idempotent: a second import stores nothing new)."""
    if (event_type is None) == (type_column is None):
        raise typer.BadParameter("give exactly one of --type and --type-column")
    rows = csv_files.read_events(
        path,
        user_column=user_column,
        item_column=item_column,
        catalog=catalog,
        event_type=event_type,
        type_column=type_column,
        value_column=value_column,
        time_column=time_column,
        time_format=time_format,
        id_column=id_column,
    )
    with connect(target) as client:
        send_events(client, path, rows)


def show_training(client: Client, catalog: str) -> None:
    """Trains ``catalog`` and prints a table of the models fitted."""
    with console.status(f"training {catalog}..."):
        response = client.train(catalog)
    table = Table("strategy", "version", "users", "items", "events", "fit seconds")
    for model in response.models:
        table.add_row(
            model.strategy,
            model.version,
            f"{model.user_count:,}",
            f"{model.item_count:,}",
            f"{model.event_count:,}",
            f"{model.training_seconds:.2f}",
        )
    console.print(table)
    console.print(f"trained in {response.total_seconds:.2f} s")


def train(target: Target = DEFAULT_TARGET, catalog: Catalog = "default") -> None:
    """Train the models of a catalog and start serving them."""
    with connect(target) as client:
        show_training(client, catalog)


def recommend(
    user_id: str,
    target: Target = DEFAULT_TARGET,
    catalog: Catalog = "default",
    count: int = 10,
) -> None:
    """Print recommendations for a user."""
    with connect(target) as client:
        response = client.recommend(user_id, catalog=catalog, count=count)
    table = Table("#", "item", "score", "reason", title=f"{user_id}: {response.strategy}")
    for rank, item in enumerate(response.items, start=1):
        table.add_row(str(rank), item.item_id, f"{item.score:.3f}", item.reason)
    console.print(table)
