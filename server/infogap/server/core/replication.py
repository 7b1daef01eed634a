"""``ReplicaSync``: bringing into this replica what the other replicas sharing its store did.

Any number of ``infogap serve`` processes can share one PostgreSQL store. Each writes its own
events, and learns of the others' from the store: it is woken by the store's change
notifications (PostgreSQL LISTEN/NOTIFY) and polls anyway, in case one was lost. Two threads:

- the event feed: events other replicas committed reach this replica's listeners (seen items
  excluded, fresh interactions folded in, caches invalidated) within a poll interval;
  erasures made elsewhere are forgotten from this replica's memory, and users and items
  written elsewhere dropped from its caches (new items become servable here too);
- the model feed: model versions trained elsewhere (or rewritten by an erasure) are fetched,
  verified and swapped in, and experiments started or stopped elsewhere are followed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from infogap.server.config import StoreSettings
from infogap.server.core.feedback.ingest import EventWriter
from infogap.server.core.models.shared import SharedModels
from infogap.server.core.store import Store
from infogap.server.core.store.records import (
    ERASURE_CHANNEL,
    EVENTS_CHANNEL,
    ITEMS_CHANNEL,
    MODELS_CHANNEL,
    USERS_CHANNEL,
)

log = logging.getLogger(__name__)


class ReplicaSync:
    """The two feeds of one replica; ``start`` them once, ``stop`` joins them."""

    def __init__(
        self,
        store: Store,
        writer: EventWriter,
        models: SharedModels,
        follow_experiments: Callable[[], None],
        forget_erased: Callable[[str], None],
        users_written: Callable[[list[str] | None], None],
        items_written: Callable[[set[str]], None],
        settings: StoreSettings,
    ) -> None:
        """``follow_experiments()`` reloads the experiments running on the store;
        ``forget_erased(user_id)`` forgets, from memory only, a user erased elsewhere;
        ``users_written(user_ids)`` (None: any user) and ``items_written(catalogs)`` hear of
        users and items written elsewhere."""
        self._store = store
        self._writer = writer
        self._models = models
        self._follow_experiments = follow_experiments
        self._forget_erased = forget_erased
        self._users_written = users_written
        self._items_written = items_written
        self._settings = settings
        self._events_due = threading.Event()
        self._models_due = threading.Event()
        self._stopping = threading.Event()
        self._erased: list[str] = []
        self._written_users: set[str] | None = set()  # None: any user
        self._written_catalogs: set[str] = set()
        self._heard_lock = threading.Lock()
        self._watermark = 0
        self._threads = [
            threading.Thread(
                target=self._follow_events, name="infogap-replica-events", daemon=True
            ),
            threading.Thread(
                target=self._follow_models, name="infogap-replica-models", daemon=True
            ),
        ]

    def start(self) -> None:
        """Starts both feeds from what is committed now (older events are in the data this
        replica loaded at start)."""
        self._writer.track_own_events()
        _, self._watermark = self._store.events_committed_after(None)
        self._store.watch_changes(self._heard)
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._events_due.set()
        self._models_due.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join()

    def _heard(self, channel: str, payload: str) -> None:
        """A store notification (on the store's listening thread): wake the feed concerned."""
        if channel == EVENTS_CHANNEL:
            self._events_due.set()
        elif channel == MODELS_CHANNEL:
            self._models_due.set()
        elif channel in (ERASURE_CHANNEL, USERS_CHANNEL, ITEMS_CHANNEL):
            with self._heard_lock:
                if channel == ERASURE_CHANNEL:
                    self._erased.append(payload)
                elif channel == ITEMS_CHANNEL:
                    self._written_catalogs.update(payload.splitlines())
                elif not payload:
                    self._written_users = None
                elif self._written_users is not None:
                    self._written_users.update(payload.splitlines())
            self._events_due.set()

    def _follow_events(self) -> None:
        while not self._stopping.is_set():
            self._events_due.wait(self._settings.poll_seconds)
            self._events_due.clear()
            if self._stopping.is_set():
                return
            try:
                self._take_in_events()
            except Exception:  # the store may be briefly unreachable: the next round retries
                log.exception("reading other replicas' events failed")

    def _take_in_events(self) -> None:
        with self._heard_lock:
            erased, self._erased = self._erased, []
            users, self._written_users = self._written_users, set()
            catalogs, self._written_catalogs = self._written_catalogs, set()
        for user_id in erased:
            self._forget_erased(user_id)
        if users is None or users:
            self._users_written(None if users is None else sorted(users))
        if catalogs:
            self._items_written(catalogs)
        events, self._watermark = self._store.events_committed_after(self._watermark)
        self._writer.take_in_foreign(events)
        self._models.note_time()

    def _follow_models(self) -> None:
        while not self._stopping.is_set():
            self._models_due.wait(self._settings.model_poll_seconds)
            self._models_due.clear()
            if self._stopping.is_set():
                return
            try:
                self._models.catch_up()
                self._follow_experiments()
            except Exception:  # as above: retried at the next round
                log.exception("following other replicas' models failed")
