"""Background retraining: on a schedule and/or after enough new events, per catalog."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from typing import Any

from infogap.server.config import LifecycleSettings
from infogap.server.core.errors import InfoGapError

log = logging.getLogger(__name__)

CHECK_EVERY_SECONDS = 1.0


class BackgroundRetrainer:
    """A daemon thread that retrains due catalogs; idle unless the lifecycle settings ask.

    Of the replicas sharing a store, only the one holding the retraining lock retrains in the
    background; another takes the lock over when that one stops (or dies: the lock goes with
    its connection)."""

    def __init__(
        self,
        catalogs_due: Callable[[bool], list[str]],
        train: Callable[[str], Any],
        settings: LifecycleSettings,
        leadership: Callable[[], AbstractContextManager[bool]],
    ) -> None:
        """``catalogs_due(interval_elapsed)`` names the catalogs to retrain; ``train(catalog)``
        retrains one (``Training``'s methods); ``leadership()`` tries the retraining lock
        (true when taken, held while the context is open)."""
        self._catalogs_due = catalogs_due
        self._train = train
        self._settings = settings
        self._leadership = leadership
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        if settings.retrain_interval_seconds or settings.retrain_after_events:
            self._thread = threading.Thread(target=self._run, name="infogap-retrainer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        with ExitStack() as held:
            leading = False
            last_round = time.monotonic()
            interval = self._settings.retrain_interval_seconds
            while not self._stopping.wait(CHECK_EVERY_SECONDS):
                if not leading:
                    attempt = self._leadership()
                    leading = attempt.__enter__()
                    if not leading:  # another replica leads: try again next round
                        attempt.__exit__(None, None, None)
                        continue
                    held.push(attempt)  # released when the thread stops
                    log.info("this replica retrains in the background")
                interval_elapsed = (
                    interval is not None and time.monotonic() - last_round >= interval
                )
                if interval_elapsed:
                    last_round = time.monotonic()
                self._retrain(self._catalogs_due(interval_elapsed))

    def _retrain(self, catalogs: list[str]) -> None:
        for catalog in catalogs:
            if self._stopping.is_set():
                return
            try:
                self._train(catalog)
            except InfoGapError as error:
                log.info("background training of %s skipped: %s", catalog, error.message)
            except Exception:  # keep the thread alive; the error is a bug to look at
                log.exception("background training of %s failed", catalog)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()


class SingleFlight:
    """Runs a job on a background thread on request; requests while it runs fold into one
    more run, so the job never runs twice at once nor falls behind."""

    def __init__(self, name: str, job: Callable[[], None]) -> None:
        self._name = name
        self._job = job
        self._pending = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def request(self) -> None:
        self._pending.set()

    def _run(self) -> None:
        while True:
            self._pending.wait()
            if self._stopping.is_set():
                return
            self._pending.clear()
            try:
                self._job()
            except Exception:  # keep the thread alive; the error is a bug to look at
                log.exception("%s failed", self._name)

    def stop(self) -> None:
        self._stopping.set()
        self._pending.set()
        self._thread.join()
