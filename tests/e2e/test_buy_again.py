"""Buy again through the SDK: a catalog of consumables serves already-bought items when asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from infogap.client import Client

START = datetime(2026, 1, 1, tzinfo=UTC)


def test_include_seen_serves_what_the_user_buys_again(start_server):
    server = start_server(plugin_config={"buy_again": {"catalogs": ["groceries"]}})
    with Client(server.address) as client:
        items = [f"sku-{n}" for n in range(6)]
        client.upsert_items([{"item_id": i, "catalog": "groceries"} for i in items])
        events = []
        for user in range(4):
            for week in range(6):  # milk weekly, coffee monthly, for every customer
                when = START + timedelta(days=7 * week)
                events.append(("sku-0", when, user))
                if week % 4 == 0:
                    events.append(("sku-1", when, user))
            events.append((f"sku-{2 + user}", START, user))
        client.record(
            [
                {
                    "user_id": f"c-{user}",
                    "item_id": item,
                    "catalog": "groceries",
                    "type": "purchase",
                    "time": when,
                }
                for item, when, user in events
            ]
        )
        client.train("groceries")
        again = client.recommend("c-0", catalog="groceries", count=3, include_seen=True)
        assert again.strategy.startswith("buy_again")
        bought = {"sku-0", "sku-1", "sku-2"}
        assert [item.item_id for item in again.items][:2] == ["sku-0", "sku-1"]
        assert {item.item_id for item in again.items} <= bought
        # Without include_seen the personal strategies answer, with new items only.
        usual = client.recommend("c-0", catalog="groceries", count=3)
        assert not usual.strategy.startswith("buy_again")
        assert not bought & {item.item_id for item in usual.items}
