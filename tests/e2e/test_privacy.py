"""Differential privacy of the popularity lists, through a real server and the SDK.

The servers here run popularity only (it is the strategy that releases aggregates), without
data-driven segments (so every Train releases the same three lists: the global one and one per
``segment`` attribute value) and without validation (so the lists cover every event).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from infogap.client import Client, FailedPreconditionError, ResourceExhaustedError
from infogap.server.transport.server import InfoGapServer

from ..conftest import load
from ..synthetic import TwoTastes

RELEASES_PER_TRAIN = 3  # global, segment=red, segment=blue


def privacy_server_settings(**privacy: Any) -> dict[str, Any]:
    return {
        "privacy": {"enabled": True, "epsilon_per_window": 100.0, **privacy},
        "plugins": {"disabled": ["lightfm"]},
        "profiles": {"clusters": 0},
        "lifecycle": {"validation_fraction": 0.0},
    }


@pytest.fixture
def client_of() -> Iterator[Callable[[InfoGapServer], Client]]:
    """Opens SDK clients to servers (closed at teardown)."""
    clients: list[Client] = []

    def open_client(server: InfoGapServer) -> Client:
        clients.append(Client(server.address, timeout=30))
        return clients[-1]

    yield open_client
    for opened in clients:
        opened.close()


def popularity_scores(client: Client) -> dict[str, float]:
    """The global list as an anonymous visitor sees it."""
    response = client.recommend("stranger", count=1000)
    assert response.strategy == "popularity"
    return {item.item_id: item.score for item in response.items}


def test_released_popularity_is_noised_integer_counts(start_server, client_of, tastes: TwoTastes):
    client = client_of(start_server(**privacy_server_settings(epsilon_per_release=1.0)))
    load(client, tastes)
    client.train()
    released = popularity_scores(client)
    raw = Counter(event["item_id"] for event in tastes.events)  # 10 items per user: none bounded
    assert set(released) == {item["item_id"] for item in tastes.items}
    assert all(score >= 0 and score == int(score) for score in released.values())
    # Noise of scale 10 leaves a count unchanged with probability 0.05: 10 of 40 is far out.
    unchanged = sum(released[item] == raw[item] for item in released)
    assert unchanged <= 10, f"{unchanged} of {len(released)} counts released without noise"


def test_a_user_counts_towards_at_most_c_items(start_server, client_of, tastes: TwoTastes):
    # An epsilon this large makes the noise 0 for all purposes, which leaves the bounding visible.
    settings = privacy_server_settings(
        epsilon_per_release=1e5, epsilon_per_window=1e6, max_contributions_per_user=3
    )
    client = client_of(start_server(**settings))
    load(client, tastes)
    greedy_items = [{"item_id": f"green-item-{i}", "tags": ["green"]} for i in range(100)]
    client.upsert_items(greedy_items)
    client.record(
        [
            {"user_id": "greedy", "item_id": item["item_id"], "type": "click"}
            for item in greedy_items
        ]
    )
    client.train()
    released = popularity_scores(client)
    green = [released[item["item_id"]] for item in greedy_items]
    assert sum(green) == 3 and max(green) == 1
    users = len(tastes.users)
    assert sum(released.values()) == 3 * users + 3  # 3 of each user's 10 items, 3 of greedy's


def test_budget_is_reported_and_reused_once_spent(start_server, client_of, tastes: TwoTastes):
    settings = privacy_server_settings(
        epsilon_per_release=1.0, epsilon_per_window=3.0, on_exhausted="reuse"
    )
    client = client_of(start_server(**settings))
    load(client, tastes)
    client.train()
    budget = client.privacy_budget()
    assert (budget.epsilon_budget, budget.epsilon_spent, budget.epsilon_remaining) == (3, 3, 0)
    assert budget.delta_spent == 0 and budget.window_days == 30
    assert [r.epsilon for r in budget.releases] == [1.0] * RELEASES_PER_TRAIN
    assert {r.kind for r in budget.releases} == {"item_popularity", "segment_item_popularity"}
    assert all("scale 10," in r.description for r in budget.releases)
    before = popularity_scores(client)

    client.train()  # the window's budget is spent: the last noisy lists are served again
    budget = client.privacy_budget()
    assert budget.epsilon_spent == 3
    reused = budget.releases[RELEASES_PER_TRAIN:]
    assert [r.epsilon for r in reused] == [0.0] * RELEASES_PER_TRAIN
    assert all("reuse of the release" in r.description for r in reused)
    assert popularity_scores(client) == before


def test_budget_spent_refuses_training_and_stores_nothing(
    start_server, client_of, tastes: TwoTastes, tmp_path
):
    settings = privacy_server_settings(
        epsilon_per_release=1.0, epsilon_per_window=3.0, on_exhausted="refuse"
    )
    server = start_server(**settings)
    client = client_of(server)
    load(client, tastes)
    trained = client.train()
    before = popularity_scores(client)
    with pytest.raises(ResourceExhaustedError, match="epsilon"):
        client.train()
    assert client.model_info().models[0].version == trained.models[0].version
    assert len(list((tmp_path / "data" / "models" / "default").iterdir())) == 1
    assert popularity_scores(client) == before
    assert len(client.privacy_budget().releases) == RELEASES_PER_TRAIN

    server.stop(grace=0)  # the ledger is in DuckDB: a restart forgets nothing
    client = client_of(start_server(**settings))
    assert client.privacy_budget().epsilon_spent == 3
    with pytest.raises(ResourceExhaustedError):
        client.train()


def test_budget_is_a_failed_precondition_when_privacy_is_off(client):
    with pytest.raises(FailedPreconditionError, match="privacy"):
        client.privacy_budget()


def test_noise_differs_between_trainings(start_server, client_of, tastes: TwoTastes):
    """Each paid release draws fresh noise (the same list twice would mean no noise at all)."""
    client = client_of(start_server(**privacy_server_settings(epsilon_per_release=1.0)))
    load(client, tastes)
    client.train()
    first = np.array(list(popularity_scores(client).values()))
    client.train()
    second = np.array(list(popularity_scores(client).values()))
    assert not np.array_equal(np.sort(first), np.sort(second))


def test_privacy_without_its_plugin_refuses_to_start(tmp_path):
    from infogap.server.transport.server import InfoGapServer

    from ..conftest import make_settings

    settings = make_settings(
        tmp_path / "data", privacy={"enabled": True}, plugins={"disabled": ["differential_privacy"]}
    )
    with pytest.raises(RuntimeError, match="differential_privacy"):
        InfoGapServer(settings)


def test_segment_sizes_are_released_with_noise(start_server, tastes):
    from infogap.client import Client

    from ..conftest import load

    server = start_server(
        privacy={"enabled": True, "epsilon_per_window": 100.0, "epsilon_per_release": 0.5}
    )
    with Client(server.address) as client:
        load(client, tastes)
        exact = 0
        for n in range(8):
            segment = client.define_segment(f"reds-{n}", 'attribute.segment = "red"')
            exact += segment.size == 30  # 30 red users; noise of scale c/epsilon = 20 at c = 10
        assert exact <= 3  # an exact size each time would mean no noise was added
        releases = client.privacy_budget("profile-segments").releases
        assert releases and all(r.kind == "segment_size" for r in releases)
