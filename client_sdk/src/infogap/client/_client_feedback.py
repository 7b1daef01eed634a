"""The blocking client's FeedbackService methods."""

from __future__ import annotations

from collections.abc import Iterable

import grpc

from infogap.v1.feedback_service_pb2 import RecordEventsResponse, StreamEventsResponse

from . import _requests as build
from ._client_base import ClientBase
from ._convert import EventLike
from ._defaults import BULK_TIMEOUT
from ._errors import from_rpc_error


class FeedbackMethods(ClientBase):
    """Recording events: in batches, or over one client stream."""

    # --- FeedbackService ----------------------------------------------------------------------

    def record(
        self, events: Iterable[EventLike], *, timeout: float | None = None
    ) -> RecordEventsResponse:
        """Records events, in batches of at most 1,000 per call.

        Events are :class:`~infogap.v1.entities_pb2.Event` messages or dicts with the same
        field names (``time`` may be a datetime, naive meaning UTC). Events without an
        ``event_id`` get a random one, which makes the automatic retries safe. All events are
        converted before the first batch is sent; if a later batch fails, the earlier ones stay
        stored.

        Args:
            events: The events to record.
            timeout: Deadline of each batch's call, in seconds.

        Returns:
            The stored and duplicate counts, summed over the batches.
        """
        requests = build.record_events_requests(events)
        return build.merge_record_events_responses(
            self._call(self._feedback.RecordEvents, request, timeout) for request in requests
        )

    def stream_events(
        self, batches: Iterable[Iterable[EventLike]], *, timeout: float = BULK_TIMEOUT
    ) -> StreamEventsResponse:
        """Bulk-loads events over one client stream, a batch per message.

        Batches are converted lazily, as the stream goes, so they may come from a generator
        reading a large file. Batches over 1,000 events are split; empty ones are skipped. If
        the server rejects a batch, or a batch cannot be converted, the batches sent before it
        stay stored. The call is not retried automatically.

        Args:
            batches: Iterables of events (messages or dicts, as for :meth:`record`).
            timeout: Deadline of the whole stream, in seconds (bulk loads take a while).

        Returns:
            The stored, duplicate and batch counts of the whole stream.
        """
        trap = build.RequestStreamErrorTrap()
        requests = trap.guard(build.stream_events_requests(batches))
        try:
            response = self._feedback.StreamEvents(
                requests,
                timeout=self._settings.deadline(timeout),
                metadata=self._settings.metadata,
            )
        except grpc.RpcError as error:
            trap.raise_error()
            raise from_rpc_error(error) from error
        trap.raise_error()
        return response
