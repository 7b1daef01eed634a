"""The DuckDB store's in-memory cluster membership (``duckdb.cluster_cache``): loaded once,
dropped by a write, not kept when a write raced the load or when there are too many."""

from __future__ import annotations

from collections.abc import Sequence

from infogap.server.core.store.duckdb.cluster_cache import ClusterMembershipCache

MEMBERS = {"u1": "c0", "u2": "c1", "u3": "c0"}


class Loads:
    """Reads of a membership table, counted."""

    def __init__(self, members: dict[str, str]) -> None:
        self.members = members
        self.all = 0
        self.some: list[list[str]] = []

    def load_all(self, limit: int) -> dict[str, str]:
        self.all += 1
        return dict(list(self.members.items())[:limit])

    def load_some(self, user_ids: Sequence[str]) -> dict[str, str]:
        self.some.append(list(user_ids))
        return {user_id: self.members[user_id] for user_id in user_ids if user_id in self.members}


def test_loaded_once_and_reloaded_after_forget() -> None:
    cache, loads = ClusterMembershipCache(), Loads(dict(MEMBERS))
    assert cache.clusters_of(["u1", "nobody"], loads.load_all, loads.load_some) == {"u1": "c0"}
    assert cache.clusters_of(["u2"], loads.load_all, loads.load_some) == {"u2": "c1"}
    assert loads.all == 1 and loads.some == []
    loads.members["u2"] = "c9"
    cache.forget()
    assert cache.clusters_of(["u2"], loads.load_all, loads.load_some) == {"u2": "c9"}
    assert loads.all == 2


def test_a_load_that_raced_a_write_is_not_kept() -> None:
    cache, loads = ClusterMembershipCache(), Loads(dict(MEMBERS))

    def racing_load(limit: int) -> dict[str, str]:
        stale = loads.load_all(limit)
        cache.forget()  # replace_clusters commits while the old rows are being read
        loads.members.clear()
        return stale

    assert cache.clusters_of(["u1"], racing_load, loads.load_some) == {"u1": "c0"}
    assert cache.clusters_of(["u1"], loads.load_all, loads.load_some) == {}  # reloaded


def test_too_many_members_are_read_per_profile() -> None:
    cache, loads = ClusterMembershipCache(max_members=2), Loads(dict(MEMBERS))
    assert cache.clusters_of(["u3"], loads.load_all, loads.load_some) == {"u3": "c0"}
    assert cache.clusters_of(["u1"], loads.load_all, loads.load_some) == {"u1": "c0"}
    assert loads.some == [["u3"], ["u1"]] and loads.all == 2
