"""Model lifecycle: versioned training, promotion only when not worse, atomic swaps under load,
background retraining."""

from __future__ import annotations

import threading
import time

from infogap.client import Client, InfoGapError

from ..conftest import load


def test_first_training_is_promoted_with_its_validation_figure(trained_client):
    decision = trained_client.model_info().last_decision
    assert decision.promoted and decision.metric == "ndcg@10"
    assert 0 < decision.candidate_value <= 1
    assert not decision.HasField("serving_value") and decision.serving_version == ""
    assert decision.reason == "no model was serving"


def test_retraining_compares_against_the_serving_model(trained_client):
    first = trained_client.model_info()
    response = trained_client.train()
    decision = response.decision
    assert decision.serving_version == first.models[0].version
    assert decision.HasField("serving_value") and decision.serving_value > 0
    assert decision.promoted == (
        decision.candidate_value >= decision.serving_value * (1 - decision.tolerance)
    )


def test_a_worse_model_is_not_promoted(start_server, tastes):
    good = start_server()
    with Client(good.address) as client:
        load(client, tastes)
        serving_version = client.train().models[0].version
        before = client.recommend("red-user-0", count=5)
    good.stop(grace=0)

    # Same data, a broken configuration: barely trained embeddings.
    bad = start_server(lightfm={"epochs": 1, "learning_rate": 1e-6, "no_components": 2})
    with Client(bad.address) as client:
        response = client.train()
        decision = response.decision
        assert not decision.promoted
        assert decision.candidate_value < decision.serving_value * (1 - decision.tolerance)
        assert "worse than" in decision.reason
        info = client.model_info()
        assert [m.version for m in info.models] == [serving_version] * 2
        assert info.last_decision.candidate_version == response.models[0].version
        after = client.recommend("red-user-0", count=5)
        assert after.model_version == serving_version
        assert [i.item_id for i in after.items] == [i.item_id for i in before.items]


def test_with_validation_off_every_model_is_promoted(start_server, tastes):
    server = start_server(lifecycle={"validation_fraction": 0})
    with Client(server.address) as client:
        load(client, tastes)
        first = client.train()
        second = client.train()
        assert first.decision.promoted and second.decision.promoted
        assert second.decision.reason == "validation is off"
        assert client.model_info().models[0].version == second.models[0].version


def test_swapping_models_under_load_fails_no_request(trained_client, server):
    errors: list[Exception] = []
    versions: set[str] = set()
    stop = threading.Event()

    def hammer(user: str) -> None:
        with Client(server.address, timeout=30) as client:
            while not stop.is_set():
                try:
                    response = client.recommend(user, count=5)
                    assert len(response.items) == 5
                    versions.add(response.model_version)
                except (InfoGapError, AssertionError) as error:
                    errors.append(error)

    threads = [threading.Thread(target=hammer, args=(f"red-user-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(3):
            trained_client.train()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == []
    assert len(versions) >= 2  # requests were served by more than one model version


def test_background_retraining_after_new_events(start_server, tastes):
    server = start_server(lifecycle={"retrain_after_events": 20, "validation_fraction": 0})
    with Client(server.address) as client:
        load(client, tastes)  # more than 20 events: the first model is trained in the background
        first = wait_for_new_version(client, previous="")
        client.record(
            [
                {"user_id": f"blue-user-{n}", "item_id": "blue-item-0", "type": "purchase"}
                for n in range(25)
            ]
        )
        assert wait_for_new_version(client, previous=first) != first


def wait_for_new_version(client: Client, previous: str, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            version = client.model_info().models[0].version
            if version != previous:
                return version
        except InfoGapError:
            pass
        time.sleep(0.2)
    raise AssertionError("no new model version appeared")
