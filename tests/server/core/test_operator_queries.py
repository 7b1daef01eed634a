"""What the core answers an operator (the console's questions): trained catalogs, training
history, event counts, and previews of recommendations that no experiment counts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from infogap.server.core.domain import CatalogEventCounts, EventBatch, RecommendationFilter
from infogap.server.core.errors import InvalidArgument
from infogap.server.core.factory import build_core
from infogap.server.core.service import InfoGap

from ...conftest import make_settings


@pytest.fixture
def core(tmp_path):
    core = build_core(make_settings(tmp_path))
    yield core
    core.close()


def record(core: InfoGap, count: int, catalog: str = "default") -> None:
    """``count`` purchases by three users of four items of ``catalog``, received now."""
    batch = EventBatch(
        event_ids=[f"{catalog}-{n}" for n in range(count)],
        user_ids=[f"u{n % 3}" for n in range(count)],
        item_ids=[f"i{n % 4}" for n in range(count)],
        catalogs=[catalog] * count,
        types=["purchase"] * count,
        values=[1.0] * count,
        times_us=[None] * count,
        recommendation_ids=[""] * count,
        contexts=[{}] * count,
    )
    assert core.record_events(batch).stored_count == count


def test_a_new_core_has_nothing_to_show(core):
    assert core.trained_catalogs() == []
    assert core.training_history("default", 5) == []
    assert core.event_counts(timedelta(hours=1)) == []
    assert core.finished_evaluations() == []


def test_event_counts_and_training_history_per_catalog(core):
    record(core, 12)
    record(core, 5, "books")
    assert core.event_counts(timedelta(hours=1)) == [
        CatalogEventCounts("books", 5, 5),
        CatalogEventCounts("default", 12, 12),
    ]
    first = core.train("default").decision
    second = core.train("default").decision
    assert core.trained_catalogs() == ["default"]
    assert core.training_history("default", 5) == [second, first]
    assert core.training_history("default", 1) == [second]
    with pytest.raises(InvalidArgument, match="limit"):
        core.training_history("default", 0)
    with pytest.raises(InvalidArgument):
        core.training_history("no spaces allowed", 5)


def test_a_preview_serves_as_recommend_does(core):
    record(core, 40)
    core.train("default")
    served = core.recommend("u1", "default", 3, RecommendationFilter(), False)
    preview = core.recommend(
        "u1", "default", 3, RecommendationFilter(), False, log_impression=False
    )
    assert [i.item_id for i in preview.items] == [i.item_id for i in served.items]
    assert preview.model_version == served.model_version
