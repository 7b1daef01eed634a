"""Store conformance: coordination between servers (the training lock, the replica feed and
change notifications), as far as every backend does it. What only a shared database does
(other servers' events, notifications) is tested in ``tests/server/core/store/test_postgresql.py``."""

from __future__ import annotations

import threading

from infogap.server.core.store import EVENT_SCHEMA, Store
from tests.server.core.store.conformance.builders import events


class Coordination:
    def test_the_training_lock_is_held_for_the_block_by_one_holder(self, store: Store) -> None:
        with store.try_training_lock("c") as held:
            assert held is True
            with store.try_training_lock("c") as again:
                assert again is False
            with store.try_training_lock("d") as other_catalog:
                assert other_catalog is True
            from_thread: list[bool] = []

            def try_from_another_thread() -> None:
                with store.try_training_lock("c") as got:
                    from_thread.append(got)

            thread = threading.Thread(target=try_from_another_thread)
            thread.start()
            thread.join()
            assert from_thread == [False]
        with store.try_training_lock("c") as after:
            assert after is True

    def test_the_feed_starts_now_and_never_repeats_an_event(self, store: Store) -> None:
        store.insert_events(events({"event_id": "before", "user_id": "u1"}))
        found, watermark = store.events_committed_after(None)
        assert found.schema == EVENT_SCHEMA and found.num_rows == 0
        assert isinstance(watermark, int)
        store.insert_events(events({"event_id": "e1", "user_id": "u1"}))
        seen: list[str] = []
        for _ in range(3):
            found, watermark = store.events_committed_after(watermark)
            assert found.schema == EVENT_SCHEMA
            seen.extend(found.column("event_id").to_pylist())
        # A backend one process owns tells none of its own events; a shared one tells e1 once.
        assert seen in ([], ["e1"])

    def test_watch_changes_takes_a_listener(self, store: Store) -> None:
        heard: list[tuple[str, str]] = []
        store.watch_changes(lambda channel, payload: heard.append((channel, payload)))
        store.insert_events(events({"event_id": "e1", "user_id": "u1"}))
        assert all(channel.startswith("infogap_") for channel, _ in heard)
