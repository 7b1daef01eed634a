"""``Intake``: Segment-spec requests translated, checked whole, then written, and the
event names nobody mapped counted for the operator."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from infogap.server.config import Settings
from infogap.server.core import validation
from infogap.server.core.domain import EventBatch, RecordResult, UserPatch, utc_now
from infogap.server.core.intake.segment import SegmentTranslator

log = logging.getLogger(__name__)

# Distinct unknown names remembered; more are counted under OTHER_NAMES, so a sender of
# random names cannot grow the server's memory.
MAX_UNKNOWN_NAMES = 1000
OTHER_NAMES = "(other names)"


@dataclass(frozen=True, slots=True)
class IntakeReport:
    """What one request did: ``received`` messages; events ``stored`` and ``duplicates``
    (already stored, e.g. a redelivery); ``users`` identified; track names no mapping knows
    (``unknown_events``) and messages left out on purpose (``ignored``), with counts."""

    received: int
    stored: int
    duplicates: int
    users: int
    unknown_events: Mapping[str, int]
    ignored: Mapping[str, int]


class UnknownEventNames:
    """Running counts of the track event names no mapping knows, since the server started.
    Thread-safe; the first sighting of each name is logged."""

    def __init__(self, max_names: int = MAX_UNKNOWN_NAMES) -> None:
        self._counts: Counter[str] = Counter()
        self._max_names = max_names
        self._lock = threading.Lock()

    def add(self, counts: Mapping[str, int]) -> None:
        with self._lock:
            for name, count in counts.items():
                if name not in self._counts:
                    if len(self._counts) >= self._max_names:
                        name = OTHER_NAMES
                    else:
                        log.warning(
                            "Segment event %r has no mapping (segment.events): counted, not stored",
                            name,
                        )
                self._counts[name] += count

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


class Intake:
    """Writes Segment-spec requests: users first, then events, and only once every message
    of the request has passed every check, so a refused request stores nothing."""

    def __init__(
        self,
        settings: Settings,
        translator: SegmentTranslator,
        patch_users: Callable[[list[UserPatch]], int],
        record_events: Callable[[EventBatch], RecordResult],
    ) -> None:
        """``patch_users`` and ``record_events`` are the core's use cases (they check again
        and keep caches right)."""
        self._settings = settings
        self._translator = translator
        self._patch_users = patch_users
        self._record_events = record_events
        self._unknown = UnknownEventNames()

    def segment(
        self,
        messages: Sequence[object],
        *,
        batch_field: str | None = None,
        call_type: str | None = None,
        user_id_of: Callable[[str], str] = lambda user_id: user_id,
    ) -> IntakeReport:
        """Stores what ``messages`` (see ``SegmentTranslator.translate``) map to.

        :raises InvalidArgument: naming the first bad field; nothing is stored then.
        """
        now = utc_now()
        limits = self._settings.limits
        translation = self._translator.translate(
            messages, batch_field=batch_field, call_type=call_type, now=now, user_id_of=user_id_of
        )
        chunks = _chunks(translation.events, limits.max_batch_size)
        # Everything checked before the first write: the use cases' checks cannot refuse later.
        if translation.patches:
            validation.patches(translation.patches, limits)
        for chunk in chunks:
            validation.events(chunk, self._settings.event_types, now, limits)
        users = self._patch_users(translation.patches) if translation.patches else 0
        stored = duplicates = 0
        for chunk in chunks:
            result = self._record_events(chunk)
            stored += result.stored_count
            duplicates += result.duplicate_count
        if translation.unknown:
            self._unknown.add(translation.unknown)
        return IntakeReport(
            received=len(messages),
            stored=stored,
            duplicates=duplicates,
            users=users,
            unknown_events=dict(translation.unknown),
            ignored=dict(translation.ignored),
        )

    def unknown_counts(self) -> dict[str, int]:
        """Unknown track event names and how often each arrived since the server started."""
        return self._unknown.counts()


def _chunks(batch: EventBatch, size: int) -> list[EventBatch]:
    """``batch`` in pieces of at most ``size`` events (an order of many products can make a
    request's events outnumber its messages)."""
    if len(batch) <= size:
        return [batch] if len(batch) else []
    return [
        EventBatch(
            batch.event_ids[start : start + size],
            batch.user_ids[start : start + size],
            batch.item_ids[start : start + size],
            batch.catalogs[start : start + size],
            batch.types[start : start + size],
            batch.values[start : start + size],
            batch.times_us[start : start + size],
            batch.recommendation_ids[start : start + size],
            batch.contexts[start : start + size],
        )
        for start in range(0, len(batch), size)
    ]
