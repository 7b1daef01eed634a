"""DeleteUser on a catalog with a model that cannot forget: the catalog is retrained on the
core's own background thread, which stopping the server joins."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from infogap.client import Client
from infogap.server.core.plugins.hookspecs import hookimpl

from ...conftest import load
from .test_factory import assert_released

RETRAINER = "infogap-erasure-retraining"


class StubbornModel:
    """Answers for nobody (popularity serves) and keeps no way to forget a user."""

    strategy = "stubborn"
    parameters: dict[str, str] = {}
    metrics: dict[str, float] = {}

    def __init__(self, user_count: int) -> None:
        self.user_count = user_count

    def score_user(self, user):
        return None

    def similar_items(self, item_index: int) -> np.ndarray | None:
        return None

    def save(self, directory: Path) -> None:
        (directory / "users.txt").write_text(str(self.user_count))


class StubbornTrainer:
    """Trains ``StubbornModel``s; retraining waits for ``gate`` once it has ``started``."""

    strategy = "stubborn"

    def __init__(self) -> None:
        self.runs_finished = 0
        self.started = threading.Event()
        self.gate = threading.Event()

    def train(self, data, context) -> StubbornModel:
        if self.runs_finished:
            self.started.set()
            assert self.gate.wait(30)
        self.runs_finished += 1
        return StubbornModel(len(data.user_ids))

    def load(self, directory: Path, item_ids: np.ndarray) -> StubbornModel:
        return StubbornModel(int((directory / "users.txt").read_text()))


class StubbornPlugin:
    def __init__(self) -> None:
        self.trainer = StubbornTrainer()

    @hookimpl
    def infogap_register_models(self, register):
        register(self.trainer)


def start_stubborn(start_server, tastes, plugin: StubbornPlugin):
    server = start_server(
        extra_plugins=[("stubborn", plugin)],
        lifecycle={"validation_fraction": 0},  # every run promoted: the retrained model serves
    )
    client = Client(server.address, timeout=30)
    load(client, tastes)
    first = client.train().decision.candidate_version
    return server, client, first


def test_a_model_that_cannot_forget_is_retrained_in_the_background(start_server, tastes):
    plugin = StubbornPlugin()
    plugin.trainer.gate.set()
    _, client, first = start_stubborn(start_server, tastes, plugin)
    with client:
        client.delete_user(tastes.users[0]["user_id"])
        deadline = time.monotonic() + 60
        while client.model_info().last_decision.candidate_version == first:
            assert time.monotonic() < deadline, "the catalog was not retrained"
            time.sleep(0.1)
        stubborn = {m.strategy: m for m in client.model_info().models}["stubborn"]
        assert stubborn.user_count == len(tastes.users) - 1


def test_stopping_the_server_waits_for_the_erasure_retraining(start_server, tastes, tmp_path):
    plugin = StubbornPlugin()
    server, client, _ = start_stubborn(start_server, tastes, plugin)
    with client:
        client.delete_user(tastes.users[0]["user_id"])
    assert plugin.trainer.started.wait(30)
    threading.Timer(0.3, plugin.trainer.gate.set).start()
    server.stop(grace=0)
    # The retraining ran to its end before the store closed, and its thread is gone.
    assert plugin.trainer.runs_finished == 2
    assert RETRAINER not in {t.name for t in threading.enumerate()}
    assert_released(tmp_path / "data")
