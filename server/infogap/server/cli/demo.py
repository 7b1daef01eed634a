"""``infogap demo``: a real server on a free loopback port, MovieLens 100K loaded through the SDK,
trained, and queried the way a CRM would."""

from __future__ import annotations

import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from infogap.client import Client
from infogap.server.assembly import build_server
from infogap.server.cli.client_commands import send_events, send_items, send_users, show_training
from infogap.server.cli.common import console as cli_console
from infogap.server.config import load_settings
from infogap.server.datasets import movielens

KNOWN_USER = "1"
SIMILAR_TO = "50"  # Star Wars (1977)
MOVIELENS_END = datetime(1998, 4, 23)


def demo(
    dataset: Annotated[Path, typer.Option(help="Folder with MovieLens events/items/users.csv.")],
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory (default: a new temporary one).")
    ] = None,
) -> None:
    """Load MovieLens 100K, train, serve, and show recommendations and profiles via the SDK."""
    with tempfile.TemporaryDirectory(prefix="infogap-demo-") as scratch:
        run_demo(dataset, data_dir or Path(scratch), cli_console)


def _show(console: Console, title: str, response, titles: dict[str, str]) -> None:
    table = Table(
        "#",
        "item",
        "title",
        "score",
        "reason",
        title=f"{title}  [dim]strategy={response.strategy}[/]",
    )
    for rank, item in enumerate(response.items, start=1):
        table.add_row(
            str(rank), item.item_id, titles.get(item.item_id, "?"), f"{item.score:.3f}", item.reason
        )
    console.print(table)


def _show_profile(console: Console, profile) -> None:
    behaviour = profile.behaviour
    table = Table("field", "value", title=f"Profile of user {profile.user_id}")
    for key, value in sorted(profile.attributes.items()):
        table.add_row(f"attribute {key}", value)
    table.add_row("events", f"{behaviour.event_count:,}")
    for count in behaviour.event_type_counts:
        table.add_row(f"  {count.type}", f"{count.count:,} (value sum {count.value_sum:g})")
    table.add_row("first seen", behaviour.first_seen_time.ToDatetime().isoformat(sep=" "))
    table.add_row("last seen", behaviour.last_seen_time.ToDatetime().isoformat(sep=" "))
    for activity in behaviour.catalog_activities:
        table.add_row(
            f"catalog {activity.catalog}",
            f"{activity.event_count:,} events, {activity.distinct_item_count:,} items",
        )
    for window in behaviour.windows:
        table.add_row(f"last {window.days} days", f"{window.event_count:,} events")
    rfm = behaviour.rfm
    table.add_row(
        "RFM",
        f"recency {rfm.recency_days:.1f} d, frequency {rfm.frequency}, monetary {rfm.monetary:g}",
    )
    table.add_row("active days", str(behaviour.active_days))
    for interest in profile.interests[:5]:
        table.add_row(
            f"interest {interest.feature}",
            f"{interest.score:.3f} ({interest.evidence_count} events)",
        )
    for segment in profile.segments:
        table.add_row(f"segment ({segment.kind})", segment.name)
    console.print(table)


def _show_segments(console: Console, client: Client) -> None:
    deadline = time.monotonic() + 60  # data-driven segments are computed just after training
    while (
        not any(s.kind == "cluster" for s in client.list_segments()) and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    table = Table("segment", "kind", "size", "rule or description", title="Segments")
    for segment in client.list_segments():
        table.add_row(
            segment.name, segment.kind, f"{segment.size:,}", segment.rule or segment.description
        )
    console.print(table)


def run_demo(dataset: Path, data_dir: Path, console: Console) -> None:
    """Starts a server on a free loopback port with ``data_dir``, loads the MovieLens-style
    ``dataset`` into it through the SDK, trains and prints what a CRM would ask; stops the
    server on the way out. The SDK's InfoGapError propagates."""
    # Profiles are measured from the end of the MovieLens history (April 1998), not from today.
    settings = load_settings(
        data_dir=data_dir, host="127.0.0.1", port=0, profiles={"now": MOVIELENS_END}
    )
    with build_server(settings) as server, Client(server.address) as client:
        console.rule(f"InfoGap on {server.address}, data in {data_dir}")
        send_users(client, dataset / movielens.USERS_FILE, movielens.users(dataset))
        send_items(client, dataset / movielens.ITEMS_FILE, movielens.items(dataset))
        send_events(client, dataset / movielens.EVENTS_FILE, movielens.events(dataset))
        show_training(client, "default")
        titles = movielens.titles(dataset)
        client.define_segment(
            "drama-lovers",
            "interest.tag:Drama >= 0.3 AND count.rating >= 100",
            description="rated 100+ films, mostly drama lately",
        )
        _show_profile(console, client.profile(KNOWN_USER))
        _show_segments(console, client)
        _show(
            console,
            f"Recommendations for user {KNOWN_USER}",
            client.recommend(KNOWN_USER, count=5),
            titles,
        )
        _show(
            console,
            f"User {KNOWN_USER}, comedies only",
            client.recommend(KNOWN_USER, count=5, include_tags=["Comedy"]),
            titles,
        )

        newcomer = "crm-customer-0001"
        client.upsert_users(
            [
                {
                    "user_id": newcomer,
                    "attributes": {"age": "18-24", "gender": "F", "occupation": "student"},
                }
            ]
        )
        _show(
            console,
            f"Brand-new user {newcomer} (attributes only, cold start)",
            client.recommend(newcomer, count=5),
            titles,
        )
        first = client.recommend(newcomer, count=2).items
        client.record(
            [{"user_id": newcomer, "item_id": item.item_id, "type": "click"} for item in first]
        )
        _show(
            console,
            f"{newcomer} after clicking {', '.join(i.item_id for i in first)}",
            client.recommend(newcomer, count=5),
            titles,
        )

        _show(
            console,
            "Anonymous visitor (no attributes, no events)",
            client.recommend("anonymous-visitor", count=5),
            titles,
        )
        _show(
            console,
            f"Similar to {titles[SIMILAR_TO]}",
            client.similar_items(SIMILAR_TO, count=5),
            titles,
        )
        _show(
            console,
            f"Ranking four candidates for user {KNOWN_USER}",
            client.rank_items(KNOWN_USER, ["1", "50", "100", "181"]),
            titles,
        )
        console.rule("Plugins")
        for plugin in client.list_plugins().plugins:
            console.print(f"{plugin.name}: {plugin.source}, provides {', '.join(plugin.provides)}")
