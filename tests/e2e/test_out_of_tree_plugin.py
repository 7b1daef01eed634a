"""A plugin installed as its own package (docs/plugin-example) is discovered through the
``infogap`` entry-point group and takes part in training and serving."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from infogap.client import Client, InvalidArgumentError

from ..conftest import REPO, load

EXAMPLE = REPO / "docs" / "plugin-example"


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory: pytest.TempPathFactory):
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(EXAMPLE),
        ],
        check=True,
    )
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    yield target
    sys.path.remove(str(target))
    sys.modules.pop("infogap_plugin_example", None)


def test_out_of_tree_plugin_is_discovered_and_used(installed_example, start_server, tastes):
    server = start_server(
        plugin_config={"example": {"promote_tag": "blue", "min_contributors": 1000}},
        serving={
            "strategy_order": ["favourite_tag", "lightfm", "popularity"],
            "blend_below_interactions": 0,
        },
    )
    with Client(server.address) as client:
        plugins = {p.name: p for p in client.list_plugins().plugins}
        example = plugins["example"]
        assert example.enabled and example.source == "infogap-plugin-example 0.1.0"
        assert set(example.provides) == {
            "model:favourite_tag",
            "reranker:promote_tag",
            "aggregate_guard:min_contributors",
            "profile_contributor:engagement",
        }
        assert set(example.hooks) == {
            "infogap_plugin_config_model",
            "infogap_register_models",
            "infogap_register_rerankers",
            "infogap_register_aggregate_guards",
            "infogap_register_profile_contributors",
        }

        load(client, tastes)
        client.upsert_users([{"user_id": "fan", "attributes": {"favourite_tag": "red"}}])
        assert [m.strategy for m in client.train().models] == [
            "favourite_tag",
            "lightfm",
            "popularity",
        ]

        # The plugin's model answers for users with a favourite tag...
        fan = client.recommend("fan", count=3, exclude_tags=["blue"])
        assert fan.strategy == "favourite_tag" and all(
            i.reason == "you like red" for i in fan.items
        )
        # ...its reranker promotes blue items even for a red user...
        red = client.recommend("red-user-0", count=5)
        assert red.strategy == "lightfm" and red.items[0].reason == "promoted: blue"
        # ...its guard zeroed every popularity figure (no item has 1000 contributors)...
        stranger = client.recommend("stranger", count=5, exclude_tags=["blue"])
        assert stranger.strategy == "popularity" and {i.score for i in stranger.items} == {0.0}
        # ...and its contributor adds a field to profiles (10 events on 1 day).
        assert client.profile("red-user-0").extra["engagement"] == 10.0


def test_autoload_off_keeps_third_party_plugins_out(installed_example, start_server, monkeypatch):
    monkeypatch.setenv("INFOGAP_DISABLE_PLUGIN_AUTOLOAD", "1")
    server = start_server()
    with Client(server.address) as client:
        plugins = {p.name: p for p in client.list_plugins().plugins}
    assert not plugins["example"].enabled and plugins["lightfm"].enabled


def test_offline_evaluation_compares_an_installed_plugins_model(
    installed_example, start_server, tastes
):
    server = start_server(lightfm={"epochs": 5, "no_components": 8})
    with Client(server.address, timeout=60) as client:
        load(client, tastes)
        # The plugin's model scores users who name a favourite tag: half the red users do.
        client.upsert_users(
            [
                {
                    "user_id": f"red-user-{n}",
                    "attributes": {"segment": "red", "favourite_tag": "red"},
                }
                for n in range(0, 30, 2)
            ]
        )
        response = client.evaluate_models(candidates=["popularity", "plugin:favourite_tag"], k=5)
        with pytest.raises(InvalidArgumentError, match=r"one of .*plugin:favourite_tag"):
            client.evaluate_models(candidates=["plugin:nope"])
    assert [c.candidate for c in response.candidates] == ["popularity", "plugin:favourite_tag"]
    plugin = response.candidates[1]
    assert plugin.label == "Plugin example: favourite_tag, then popularity"
    # The plugin's model answered for the users it can score, popularity for the others.
    assert set(plugin.strategy_shares) == {"favourite_tag", "popularity"}
    assert 0.2 < plugin.strategy_shares["favourite_tag"] < 0.8
    assert 0 < plugin.metrics["ndcg"].value < 1
