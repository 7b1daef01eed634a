"""With pseudonyms on, the database holds keyed hashes of user ids, never the raw ids, while
every call still works with the caller's own ids."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from infogap.client import Client, InvalidArgumentError

from ..conftest import load

SECRET = "a-test-secret-of-some-length"


def test_database_holds_only_keyed_hashes(start_server, tastes):
    server = start_server(pseudonyms={"enabled": True, "secret": SECRET})
    with Client(server.address) as client:
        load(client, tastes)
        client.patch_users([{"user_id": "red-user-0", "set_attributes": {"tier": "gold"}}])
        client.train()
        profile = client.profile("red-user-0")
        assert profile.user_id == "red-user-0" and profile.attributes["tier"] == "gold"
        assert profile.behaviour.event_count == 10
        batch = client.profiles(["blue-user-1", "nobody"])
        assert [p.user_id for p in batch.profiles] == ["blue-user-1"]
        assert list(batch.missing_user_ids) == ["nobody"]
        red = client.recommend("red-user-0", count=5)
        assert red.strategy == "lightfm" and {i.item_id.split("-")[0] for i in red.items} == {"red"}
        assert (
            client.rank_items("red-user-0", ["blue-item-1", "red-item-1"]).items[0].item_id
            == "red-item-1"
        )
        # Invalid ids are still rejected by name, not hidden by hashing.
        with pytest.raises(InvalidArgumentError, match=r"events\[0\].user_id"):
            client.record([{"user_id": "tab\there", "item_id": "x", "type": "view"}])

        db = server.core._store.cursor()
        stored = {
            row[0]
            for row in db.execute(
                "SELECT user_id FROM users UNION SELECT user_id FROM events"
            ).fetchall()
        }
        expected = "p:" + hmac.new(SECRET.encode(), b"red-user-0", hashlib.sha256).hexdigest()
        assert expected in stored
        assert all(user_id.startswith("p:") and len(user_id) == 66 for user_id in stored)

        client.delete_user("red-user-0")
        assert expected not in {
            row[0] for row in db.execute("SELECT user_id FROM events").fetchall()
        }


def test_pseudonyms_need_a_secret():
    from pydantic import ValidationError

    from infogap.server.config import load_settings

    with pytest.raises(ValidationError, match="secret"):
        load_settings(pseudonyms={"enabled": True})
