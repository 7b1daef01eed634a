"""Reasons with evidence, the diversity knob and exploration slots, through the SDK."""

from __future__ import annotations

import math

import pytest

from infogap.client import Client, InvalidArgumentError
from infogap.plugins.exploration import REASON as EXPLORATION_REASON

from ..conftest import EXTRA_MODEL_PLUGINS, load
from ..synthetic import TwoTastes


def colours(response) -> set[str]:
    return {item.item_id.split("-")[0] for item in response.items}


def test_a_known_users_reasons_name_their_own_purchases(trained_client, tastes: TwoTastes):
    bought = {e["item_id"] for e in tastes.events if e["user_id"] == "red-user-0"}
    response = trained_client.recommend("red-user-0", count=5)
    assert response.strategy == "lightfm"
    for item in response.items:
        assert 1 <= len(item.evidence) <= 3
        assert {e.item_id for e in item.evidence} <= bought
        assert {e.event_type for e in item.evidence} == {"purchase"}
        assert not any(e.feature for e in item.evidence)
        weights = [e.weight for e in item.evidence]
        assert weights == sorted(weights, reverse=True) and weights[-1] > 0
        first, second = item.evidence[0].item_id, item.evidence[1].item_id
        assert item.reason == f"because you bought {first} and {second}"


def test_reasons_use_item_titles(trained_client, tastes: TwoTastes):
    trained_client.upsert_items(
        [
            {**item, "attributes": {**item["attributes"], "title": f"The {item['item_id']}"}}
            for item in tastes.items
        ]
    )
    item = trained_client.recommend("blue-user-0", count=1).items[0]
    first, second = (e.item_id for e in item.evidence[:2])
    assert item.reason == f"because you bought The {first} and The {second}"


def test_a_cold_users_reasons_name_their_features(trained_client):
    trained_client.upsert_users([{"user_id": "cold-blue", "attributes": {"segment": "blue"}}])
    response = trained_client.recommend("cold-blue", count=10)
    features = {e.feature for item in response.items for e in item.evidence}
    assert features == {"segment=blue"}
    assert {i.reason for i in response.items} == {
        "liked by customers in segment=blue",
        "popular in segment=blue",
    }
    assert not any(e.item_id for item in response.items for e in item.evidence)


def test_the_diversity_knob_changes_the_list(trained_client):
    plain = trained_client.recommend("red-user-0", count=10)
    same = trained_client.recommend("red-user-0", count=10, diversity=0.0)
    varied = trained_client.recommend("red-user-0", count=10, diversity=1.0)
    ids = lambda response: [i.item_id for i in response.items]  # noqa: E731
    assert ids(same) == ids(plain) and colours(plain) == {"red"}
    assert ids(varied) != ids(plain) and colours(varied) == {"red", "blue"}
    assert varied.items[0].item_id == plain.items[0].item_id  # the best item stays first


@pytest.mark.parametrize("value", [-0.1, 1.5, math.nan, math.inf])
def test_a_diversity_outside_zero_to_one_is_invalid_argument(trained_client, value):
    with pytest.raises(InvalidArgumentError) as caught:
        trained_client.recommend("red-user-0", diversity=value)
    assert caught.value.message.startswith("diversity: must be between 0 and 1")
    assert [field for field, _ in caught.value.field_violations] == ["diversity"]


def test_a_configured_diversity_applies_when_the_request_sets_none(start_server, tastes):
    server = start_server(plugin_config={"diversity": {"default": 1.0}})
    with Client(server.address) as client:
        load(client, tastes)
        client.train()
        default = [i.item_id for i in client.recommend("red-user-0", count=10).items]
        varied = [i.item_id for i in client.recommend("red-user-0", count=10, diversity=1).items]
        plain = [i.item_id for i in client.recommend("red-user-0", count=10, diversity=0).items]
        assert default == varied != plain


def test_exploration_slots_show_new_items_until_they_have_impressions(start_server, tastes):
    exploration = {"slots": 1, "seed": 5, "max_impressions": 3, "refresh_seconds": 0}
    server = start_server(plugin_config={"exploration": exploration})
    with Client(server.address) as client:
        load(client, tastes)
        client.train()
        # Every trained item has 10+ purchases: none is new until these arrive.
        assert not any(i.reason == EXPLORATION_REASON for i in client.recommend("red-user-0").items)
        client.upsert_items([{"item_id": "fresh-item", "tags": ["green"]}])
        response = client.recommend("red-user-0", count=10)
        assert response.items[9].item_id == "fresh-item"
        assert response.items[9].reason == EXPLORATION_REASON
        assert [i.item_id for i in client.recommend("red-user-0", count=9).items].count(
            "fresh-item"
        ) == 0  # 9 items: no slot (1 per 10)
        client.record(
            [
                {"user_id": f"blue-user-{n}", "item_id": "fresh-item", "type": "impression"}
                for n in range(3)
            ]
        )
        assert "fresh-item" not in {i.item_id for i in client.recommend("red-user-0").items}


@pytest.mark.parametrize("strategy", ["item_knn", "als", "ease"])
def test_neighbour_and_factor_models_name_the_users_own_items(start_server, tastes, strategy):
    server = start_server(
        models=EXTRA_MODEL_PLUGINS,
        plugins={"disabled": ["lightfm"]},
        serving={"strategy_order": [strategy, "popularity"], "blend_below_interactions": 0},
        plugin_config={"als": {"factors": 8, "iterations": 15, "regularization": 1.0}},
    )
    with Client(server.address, timeout=60) as client:
        load(client, tastes)
        client.train()
        clicked = ["blue-item-0", "blue-item-1"]
        client.record([{"user_id": "red-user-5", "item_id": i, "type": "click"} for i in clicked])
        own = {e["item_id"] for e in tastes.events if e["user_id"] == "red-user-5"}
        response = client.recommend("red-user-5", count=5, diversity=0.5)
        assert response.strategy == strategy
        for item in response.items:
            assert item.evidence and item.reason.startswith("because you ")
            assert {e.item_id for e in item.evidence} <= own | set(clicked)
            types = {e.item_id: e.event_type for e in item.evidence}
            assert all(types[i] == "click" for i in types if i in clicked)
            assert all(types[i] == "purchase" for i in types if i not in clicked)
