"""AdminService, health and reflection."""

from __future__ import annotations

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from infogap.client import FailedPreconditionError, NotFoundError


def test_train_reports_models_and_model_info_matches(client, tastes):
    from ..conftest import load

    load(client, tastes)
    response = client.train()
    assert [m.strategy for m in response.models] == ["lightfm", "popularity"]
    lightfm = response.models[0]
    # 5% of the users are held out whole, to validate the bucket of users without history.
    assert lightfm.user_count == len(tastes.users) - 3
    assert lightfm.item_count == len(tastes.items)
    assert lightfm.event_count == len(tastes.events)
    assert lightfm.parameters["loss"] == "warp" and lightfm.training_seconds > 0
    assert response.total_seconds >= lightfm.training_seconds
    info = client.model_info()
    assert [(m.strategy, m.version) for m in info.models] == [
        (m.strategy, m.version) for m in response.models
    ]


def test_training_an_empty_catalog_is_a_failed_precondition(client):
    with pytest.raises(FailedPreconditionError, match="no events"):
        client.train("empty")
    with pytest.raises(NotFoundError):
        client.model_info("empty")


def test_list_plugins_shows_builtins(client):
    plugins = {p.name: p for p in client.list_plugins().plugins}
    assert plugins["lightfm"].source == "builtin" and plugins["lightfm"].enabled
    assert "model:popularity" in plugins["popularity"].provides
    assert "infogap_register_models" in plugins["lightfm"].hooks


def test_disabled_plugin_is_listed_but_not_used(start_server, tastes):
    from infogap.client import Client

    from ..conftest import load

    server = start_server(plugins={"disabled": ["lightfm"]})
    with Client(server.address) as client:
        plugins = {p.name: p for p in client.list_plugins().plugins}
        assert not plugins["lightfm"].enabled and not plugins["lightfm"].provides
        load(client, tastes)
        assert [m.strategy for m in client.train().models] == ["popularity"]
        assert client.recommend("red-user-0").strategy == "popularity"


def test_health_and_reflection(server, client):
    assert client.health() == "SERVING"
    with grpc.insecure_channel(server.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        names = {s.name for r in responses for s in r.list_services_response.service}
    assert {
        "infogap.v1.FeedbackService",
        "infogap.v1.ProfileService",
        "infogap.v1.RecommendService",
        "infogap.v1.AdminService",
        "grpc.health.v1.Health",
    } <= names
