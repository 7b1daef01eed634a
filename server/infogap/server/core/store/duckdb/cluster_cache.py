"""Every user's cluster, kept in memory for GetProfile's per-user path.

Why: reading one user's cluster is a DuckDB round trip (about half a millisecond, a tenth of
a profile), and the membership changes only when this store writes it: the store is the
only writer of its file, and ``replace_clusters`` and ``delete_user`` the only statements
that change ``user_clusters``. Each calls ``forget`` after committing, so a read after a
write sees it; a load that raced with a write is not kept.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

# Memberships of more users than this are not kept: each profile reads its users' rows.
MAX_KEPT_MEMBERS = 1_000_000


class ClusterMembershipCache:
    def __init__(self, max_members: int = MAX_KEPT_MEMBERS) -> None:
        self._max_members = max_members
        self._lock = threading.Lock()
        self._version = 0  # bumped by every forget
        self._members: dict[str, str] | None = None  # None: not loaded, or too many to keep

    def clusters_of(
        self,
        user_ids: Sequence[str],
        load_all: Callable[[int], dict[str, str]],
        load_some: Callable[[Sequence[str]], dict[str, str]],
    ) -> dict[str, str]:
        """user id -> cluster for those of ``user_ids`` in a cluster. ``load_all(limit)``
        reads up to ``limit`` memberships; ``load_some`` reads those of a few users, when
        there are too many to keep."""
        with self._lock:
            members, version = self._members, self._version
        if members is None:
            loaded = load_all(self._max_members + 1)
            if len(loaded) > self._max_members:
                return load_some(user_ids)
            members = loaded
            with self._lock:
                if self._version == version:
                    self._members = members
        return {user_id: members[user_id] for user_id in user_ids if user_id in members}

    def forget(self) -> None:
        """Drop what is kept: the memberships changed (call after the write commits)."""
        with self._lock:
            self._version += 1
            self._members = None
