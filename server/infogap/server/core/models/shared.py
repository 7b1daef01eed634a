"""``SharedModels``: serving, on this replica, the model versions another replica trained.

Replicas share one store and one artifact store. The replica that trains records the version
(and its checksum) in the store and announces it; every other one compares what the store says
serves each catalog with what it serves itself, and loads what differs: a new version, or the
same version rewritten (an erasure changed its files, so its checksum changed).
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from infogap.server.core.errors import InfoGapError
from infogap.server.core.models.lifecycle import ModelLifecycle
from infogap.server.core.models.registry import ServingRegistry
from infogap.server.core.models.train import Training
from infogap.server.core.store import Store

log = logging.getLogger(__name__)

# Events committed this long before a version's training time are taken as part of its data;
# later ones stay fresh (folded in), since the training replica's read may have missed them.
SNAPSHOT_MARGIN = timedelta(seconds=2)
KEPT_SEQUENCE_SAMPLES = 4096


class SharedModels:
    """Keeps this replica serving the versions the shared store records as serving."""

    def __init__(
        self,
        store: Store,
        lifecycle: ModelLifecycle,
        registry: ServingRegistry,
        training: Training,
        committed_sequence: Callable[[], int],
    ) -> None:
        """``committed_sequence()`` is the event writer's latest commit number."""
        self._store = store
        self._lifecycle = lifecycle
        self._registry = registry
        self._training = training
        self._committed_sequence = committed_sequence
        self._known: dict[str, tuple[str, str]] = {}  # catalog -> (version, checksum) served
        self._lock = threading.Lock()
        # (unix seconds, commit number) samples: which commits a version trained at a given
        # time had in its data.
        self._times: list[float] = []
        self._sequences: list[int] = []

    def note_time(self) -> None:
        """Samples the writer's commit number now (called by the replica loop every tick)."""
        with self._lock:
            self._times.append(time.time())
            self._sequences.append(self._committed_sequence())
            if len(self._times) > KEPT_SEQUENCE_SAMPLES:
                del self._times[: KEPT_SEQUENCE_SAMPLES // 2]
                del self._sequences[: KEPT_SEQUENCE_SAMPLES // 2]

    def catch_up(self) -> list[str]:
        """Loads and serves every catalog whose recorded serving version, or its checksum,
        differs from what this replica serves.

        Returns: the catalogs swapped. A version that cannot be fetched or verified is logged
        and tried again at the next call; the replica serves its previous one meanwhile.
        """
        recorded: dict[str, str] = {}
        for info, _ in self._store.serving_models():
            recorded[info.catalog] = max(recorded.get(info.catalog, ""), info.version)
        swapped = []
        for catalog, version in sorted(recorded.items()):
            checksum = self._store.version_checksum(catalog, version) or ""
            known = self._known.get(catalog)
            if known == (version, checksum):
                continue
            current = self._registry.serving_models(catalog)
            if known is None and current is not None and current.version == version:
                # Trained (or loaded at start) here: what the store records is what serves.
                self._known[catalog] = (version, checksum)
                continue
            try:
                trained = self._lifecycle.load_catalog_serving(catalog)
            except InfoGapError as error:
                log.error("cannot serve %r version %s yet: %s", catalog, version, error.message)
                continue
            if trained is None:
                continue
            trained_at = min(info.trained_at for info in trained.infos)
            self._registry.publish(trained, self._sequence_before(trained_at))
            decision = self._store.last_decisions().get(catalog)
            if decision is not None:
                self._training.adopt(catalog, decision)
            self._known[catalog] = (trained.version, checksum)
            swapped.append(catalog)
            log.info("serving %r version %s, trained by another replica", catalog, version)
        return swapped

    def _sequence_before(self, trained_at: datetime) -> int:
        """The latest commit number sampled before ``trained_at`` (minus the margin)."""
        moment = (trained_at.replace(tzinfo=UTC) - SNAPSHOT_MARGIN).timestamp()
        with self._lock:
            index = bisect.bisect_right(self._times, moment)
            return self._sequences[index - 1] if index else 0
