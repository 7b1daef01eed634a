"""A restarted server keeps its data and serves the last trained model without retraining."""

from __future__ import annotations

from datetime import datetime

from infogap.client import Client

from ..conftest import load

AS_OF = datetime(2026, 6, 1)


def test_restart_keeps_data_and_model(start_server, tastes):
    first = start_server()
    with Client(first.address) as client:
        load(client, tastes)
        trained = client.train()
        before = client.recommend("red-user-0", count=5)
        profile_before = client.profile("red-user-0", as_of=AS_OF)
    first.stop(grace=0)

    second = start_server()
    with Client(second.address) as client:
        assert [m.version for m in client.model_info().models] == [
            m.version for m in trained.models
        ]
        after = client.recommend("red-user-0", count=5)
        assert after.model_version == before.model_version
        assert [(i.item_id, round(i.score, 5)) for i in after.items] == [
            (i.item_id, round(i.score, 5)) for i in before.items
        ]
        profile_after = client.profile("red-user-0", as_of=AS_OF)
        for part in ("attributes", "behaviour", "interests"):
            assert getattr(profile_after, part) == getattr(profile_before, part)
        # Seen items are still excluded after the restart.
        seen = {e["item_id"] for e in tastes.events if e["user_id"] == "red-user-0"}
        assert not seen & {i.item_id for i in client.recommend("red-user-0", count=40).items}


def test_a_server_that_cannot_bind_leaves_its_data_directory_usable(start_server, tmp_path):
    import pytest

    from infogap.server.transport.server import InfoGapServer

    from ..conftest import make_settings

    first = start_server(data_dir=tmp_path / "shared")
    taken = make_settings(tmp_path / "other", port=first.port)
    with pytest.raises(RuntimeError):
        InfoGapServer(taken)
    # The failed server closed its store: the same data directory opens again at once.
    InfoGapServer(make_settings(tmp_path / "other")).stop(grace=0)
