"""``Intake`` on a real core (DuckDB file): a request is written whole or not at all,
redeliveries store nothing twice, and unknown names are counted across requests."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from infogap.server.core.errors import InvalidArgument, NotFound
from infogap.server.core.factory import build_core
from infogap.server.core.service import InfoGap

from ....conftest import make_settings


@pytest.fixture
def core(tmp_path: Path) -> Iterator[InfoGap]:
    built = build_core(make_settings(tmp_path / "data", limits={"max_batch_size": 3}))
    yield built
    built.close()


def messages() -> list[dict[str, object]]:
    return [
        {"type": "identify", "messageId": "i1", "userId": "ann", "traits": {"plan": "gold"}},
        {
            "type": "track",
            "event": "Product Viewed",
            "messageId": "v1",
            "userId": "ann",
            "properties": {"product_id": "p1"},
            "timestamp": "2026-01-05T10:00:00Z",
        },
        {
            "type": "track",
            "event": "Order Completed",
            "messageId": "o1",
            "userId": "ann",
            "properties": {
                "products": [
                    {"product_id": "p1", "price": 5, "quantity": 2},
                    {"product_id": "p2", "price": 1},
                    {"product_id": "p3", "price": 3},
                ]
            },
        },
    ]


def test_a_batch_lands_and_its_redelivery_stores_nothing(core: InfoGap):
    # Four events from three messages, over max_batch_size: written in two pieces.
    first = core.intake.segment(messages(), batch_field="batch")
    assert (first.received, first.stored, first.duplicates, first.users) == (3, 4, 0, 1)
    again = core.intake.segment(messages(), batch_field="batch")
    assert (again.stored, again.duplicates) == (0, 4)
    profile = core.profile("ann")
    assert dict(profile.attributes) == {"plan": "gold"}
    counts = {c.type: (c.count, c.value_sum) for c in profile.behaviour.event_type_counts}
    assert counts == {"view": (1, 0.0), "purchase": (3, 14.0)}


def test_a_refused_batch_stores_nothing(core: InfoGap):
    bad = messages()
    bad[2]["properties"]["products"][2] = {"price": 3}  # type: ignore[index]
    with pytest.raises(InvalidArgument) as caught:
        core.intake.segment(bad, batch_field="batch")
    assert caught.value.violations[0].field == "batch[2].properties.products[2].product_id"
    with pytest.raises(NotFound):  # neither the identify nor the view was written
        core.profile("ann")


def test_unknown_names_are_counted_across_requests_and_logged_once(
    core: InfoGap, caplog: pytest.LogCaptureFixture
):
    signed_up = {"type": "track", "event": "Signed Up", "messageId": "s", "userId": "u"}
    caplog.set_level(logging.WARNING, logger="infogap.server.core.intake.service")
    report = core.intake.segment([signed_up, {**signed_up, "messageId": "s2"}], batch_field="batch")
    assert report.unknown_events == {"Signed Up": 2} and report.stored == 0
    core.intake.segment([signed_up], call_type="track")
    assert core.intake.unknown_counts() == {"Signed Up": 3}
    assert sum("'Signed Up'" in record.getMessage() for record in caplog.records) == 1
