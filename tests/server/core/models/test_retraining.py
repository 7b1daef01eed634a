"""Background retraining: of the retrainers sharing a store's lock, one retrains; another takes
over when it stops."""

from __future__ import annotations

import time
from pathlib import Path

from infogap.server.config import LifecycleSettings
from infogap.server.core.models.retraining import CHECK_EVERY_SECONDS, BackgroundRetrainer
from infogap.server.core.store import DuckDBStore

LOCK = "background retraining"


def test_one_retrainer_of_those_sharing_the_lock_retrains(tmp_path: Path):
    store = DuckDBStore(tmp_path)
    trained: dict[str, list[str]] = {"first": [], "second": []}
    settings = LifecycleSettings(retrain_after_events=1)

    def retrainer(name: str) -> BackgroundRetrainer:
        return BackgroundRetrainer(
            lambda _: ["shop"],
            trained[name].append,
            settings,
            lambda: store.try_training_lock(LOCK),
        )

    first = retrainer("first")
    time.sleep(CHECK_EVERY_SECONDS * 1.5)  # the first takes the lock at its first round
    second = retrainer("second")
    try:
        time.sleep(CHECK_EVERY_SECONDS * 2.5)
        assert trained["first"] and not trained["second"]
        first.stop()  # the lock goes with it: the second leads from its next round
        deadline = time.monotonic() + CHECK_EVERY_SECONDS * 5
        while not trained["second"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert trained["second"] == ["shop"] * len(trained["second"]) != []
    finally:
        first.stop()
        second.stop()
        store.close()
