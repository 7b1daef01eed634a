"""The item-kNN, ALS and EASE plugins through a real server: trained beside LightFM, serving
when named first, scoring from the user's current history, EASE skipped on a catalog too
large for it (with the reason), and a trainer's ``ModelSkipped`` in general."""

from __future__ import annotations

import pytest

from infogap.client import Client, FailedPreconditionError
from infogap.server.plugin import ModelSkipped, hookimpl

from ..conftest import EXTRA_MODEL_PLUGINS, load

NEW_STRATEGIES = ("ease", "item_knn", "item_knn_bm25", "als")
PLUGIN_OF = {"ease": "ease", "item_knn": "item_knn", "item_knn_bm25": "item_knn", "als": "als"}
SMALL_ALS = {"factors": 8, "iterations": 15, "regularization": 1.0}


def serving_alone(start_server, strategy: str, plugin_config=None, **overrides):
    """A server where ``strategy`` answers first and popularity last (LightFM off), its lists
    not blended with popularity's, so that they are the model's own."""
    return start_server(
        models=EXTRA_MODEL_PLUGINS,
        plugins={"disabled": ["lightfm"]},
        serving={"strategy_order": [strategy, "popularity"], "blend_below_interactions": 0},
        plugin_config={"als": SMALL_ALS, **(plugin_config or {})},
        **overrides,
    )


def ids(response) -> list[str]:
    return [item.item_id for item in response.items]


def test_every_model_trains_beside_lightfm_which_still_serves(start_server, tastes):
    server = start_server(models=EXTRA_MODEL_PLUGINS, plugin_config={"als": SMALL_ALS})
    with Client(server.address, timeout=60) as client:
        load(client, tastes)
        response = client.train()
        assert [m.strategy for m in response.models] == [
            "lightfm",
            *NEW_STRATEGIES,
            "popularity",
        ]
        ease = next(m for m in response.models if m.strategy == "ease")
        assert ease.parameters["l2"] == "300.0" and ease.metrics["items_fitted"] == 40
        assert client.recommend("red-user-0", count=5).strategy == "lightfm"


@pytest.mark.parametrize("strategy", NEW_STRATEGIES)
def test_a_known_user_gets_their_taste(start_server, tastes, strategy):
    server = serving_alone(start_server, strategy)
    with Client(server.address, timeout=60) as client:
        load(client, tastes)
        client.train()
        response = client.recommend("blue-user-3", count=5)
        assert response.strategy == strategy
        assert all(item.item_id.startswith("blue-") for item in response.items[:3])
        assert response.items[0].reason.startswith("because you bought blue-item-")
        assert all(e.item_id.startswith("blue-item-") for e in response.items[0].evidence)


@pytest.mark.parametrize("strategy", NEW_STRATEGIES)
def test_a_fresh_users_list_follows_each_event(start_server, tastes, strategy):
    """A user unknown at training time, without attributes: popularity first, then the model
    from their events alone, the list changing after each one, with no retraining."""
    server = serving_alone(start_server, strategy)
    with Client(server.address, timeout=60) as client:
        load(client, tastes)
        client.train()
        assert client.recommend("newcomer", count=8).strategy == "popularity"
        lists = []
        for n, item in enumerate(["blue-item-1", "blue-item-2", "blue-item-5"]):
            client.record([{"user_id": "newcomer", "item_id": item, "type": "click"}])
            response = client.recommend("newcomer", count=8)
            assert response.strategy == strategy, n
            assert item not in ids(response)
            lists.append(ids(response))
        assert lists[0] != lists[1] != lists[2]
        # Three blue clicks: the model's own top items are blue.
        assert all(item.startswith("blue-") for item in lists[-1][:3])


@pytest.mark.parametrize("strategy", ["ease", "item_knn", "als"])
def test_models_load_back_after_a_restart(start_server, tastes, tmp_path, strategy):
    first = serving_alone(start_server, strategy)
    with Client(first.address, timeout=60) as client:
        load(client, tastes)
        client.train()
        before = client.recommend("red-user-2", count=6)
        similar = client.similar_items("red-item-3", count=4)
    first.stop(grace=0)
    again = serving_alone(start_server, strategy)
    with Client(again.address, timeout=60) as client:
        after = client.recommend("red-user-2", count=6)
        assert after.strategy == strategy and ids(after) == ids(before)
        assert ids(client.similar_items("red-item-3", count=4)) == ids(similar)


def test_ease_is_skipped_on_a_catalog_over_max_items(start_server, tastes):
    server = serving_alone(start_server, "ease", plugin_config={"ease": {"max_items": 30}})
    with Client(server.address, timeout=60) as client:
        load(client, tastes)
        response = client.train()
        assert "ease" not in [m.strategy for m in response.models]
        reason = "skipped: ease: 40 items have events, more than max_items 30"
        assert response.decision.promoted and reason in response.decision.reason
        assert reason in client.model_info().last_decision.reason
        # Popularity still serves: the run went on without EASE.
        assert client.recommend("red-user-0", count=3).strategy == "popularity"


class Declines:
    strategy = "declines"

    def train(self, data, context):
        raise ModelSkipped("never fits")

    def load(self, directory, item_ids):
        raise AssertionError("nothing was saved")


class DecliningPlugin:
    @hookimpl
    def infogap_register_models(self, register) -> None:
        register(Declines())


def test_a_run_where_every_strategy_skips_fails_saying_why(start_server, tastes):
    server = start_server(
        extra_plugins=[("declining", DecliningPlugin())],
        plugins={"disabled": ["lightfm", "popularity"]},
    )
    with Client(server.address, timeout=60) as client:
        load(client, tastes)
        with pytest.raises(FailedPreconditionError, match="skipped: declines: never fits"):
            client.train()
