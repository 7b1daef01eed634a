"""Right to be forgotten: after DeleteUser nothing of the user remains in any table, cache,
served model or model file, and their events count in no aggregate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from infogap.client import Client, NotFoundError

from ..conftest import load

ERASED = "erase-me-7f3a"
PURCHASES = [f"blue-item-{n}" for n in range(5)]


def holds(path: Path, text: str) -> bool:
    """Whether a model file holds ``text``: in any array of an .npz (compressed or not) or .npy
    (its text is UTF-32), or in the bytes of any other file."""
    if path.suffix == ".npy":
        array = np.load(path, allow_pickle=False)
        return array.dtype.kind in "US" and text in array.astype(str).tolist()
    if path.suffix != ".npz":
        return text.encode() in path.read_bytes()
    with np.load(path, allow_pickle=False) as arrays:
        return any(
            text in arrays[name].astype(str).tolist()
            for name in arrays.files
            if arrays[name].dtype.kind in "US"
        )


def popularity_of(client: Client) -> dict[str, float]:
    response = client.recommend("someone-new", count=40)
    assert response.strategy == "popularity"
    return {item.item_id: item.score for item in response.items}


def test_delete_user_forgets_everything(start_server, tastes, tmp_path):
    # Validation off: every purchase counts in the models (a temporal hold-out keeps each
    # user's latest out of the validated models), so each one's erased weight is exact.
    server = start_server(data_dir=tmp_path / "erasure", lifecycle={"validation_fraction": 0})
    with Client(server.address) as client:
        load(client, tastes)
        client.upsert_users(
            [{"user_id": ERASED, "attributes": {"segment": "blue", "email": "x@y.z"}}]
        )
        client.record(
            [
                {"user_id": ERASED, "item_id": i, "type": "purchase", "value": 10.0}
                for i in PURCHASES
            ]
        )
        client.define_segment("blue-buyers", "count.purchase >= 1")
        pinned = client.train().models[0].version
        trained = client.train()
        # An experiment serves the older version too, and logs what it served them.
        client.create_experiment(
            "erasure-ab",
            [{"name": "old", "share": 0.5, "model_version": pinned}, {"name": "new", "share": 0.5}],
        )
        client.start_experiment("erasure-ab")
        client.record(
            [{"user_id": ERASED, "item_id": "red-item-0", "type": "click"}]
        )  # after training
        assert client.recommend(ERASED).strategy.startswith("lightfm")
        before = popularity_of(client)

        receipt = client.delete_user(ERASED)
        assert dict(receipt.rows_removed) == {
            "users": 1,
            "events": 6,
            "user_clusters": receipt.rows_removed["user_clusters"],  # clustered or not yet
            "impressions": 1,
            # The LightFM vector and the popularity contributions, in both versions.
            "model_entries": 4,
            "fresh_interactions": 1,
        }
        assert receipt.HasField("delete_time")
        # Nor does the running experiment's memory of their variant.
        (running,) = server.core._experiments._running.values()
        assert ERASED not in running._assignments
        client.stop_experiment("erasure-ab")  # they may come back, as a stranger, unlogged

        # The API knows them no more.
        with pytest.raises(NotFoundError):
            client.profile(ERASED)
        with pytest.raises(NotFoundError):
            client.delete_user(ERASED)
        assert ERASED not in list(client.iter_segment_members("blue-buyers"))
        assert client.recommend(ERASED).strategy == "popularity"  # an unknown user now

        # Their purchases no longer count in popularity: each item lost exactly their weight.
        after = popularity_of(client)
        for item in PURCHASES:
            assert after[item] == pytest.approx(before[item] - 8.0)  # purchase weight 8

        # No table holds their id, in any text column.
        db = server.core._store.cursor()
        columns = db.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE data_type IN ('VARCHAR', 'JSON')"
        ).fetchall()
        assert len({table for table, _ in columns}) >= 8
        for table, column in columns:
            hits = db.execute(
                f'SELECT count(*) FROM "{table}" WHERE CAST("{column}" AS VARCHAR) LIKE ?',
                [f"%{ERASED}%"],
            ).fetchone()[0]
            assert hits == 0, f"{table}.{column} still holds the user"

        # No model file holds it either (old versions are deleted, serving and pinned ones
        # rewritten).
        model_files = [p for p in (tmp_path / "erasure" / "models").rglob("*") if p.is_file()]
        assert model_files and any(p.name == "users.npy" for p in model_files)
        assert not [p for p in model_files if holds(p, ERASED)]

        # The next training runs without them.
        retrained = client.train()
        assert retrained.models[0].user_count == trained.models[0].user_count - 1
    # And a restart serves the rewritten models.
    server.stop(grace=0)
    restarted = start_server(data_dir=tmp_path / "erasure")
    with Client(restarted.address) as client:
        assert client.recommend(ERASED).strategy == "popularity"
        assert popularity_of(client) == pytest.approx(after)
