"""``InfoGapServer`` on its own, without the assembly: every RPC but EvaluateModels, which
needs the evaluator only the assembly hands in."""

from __future__ import annotations

import pytest

from infogap.client import Client, FailedPreconditionError
from infogap.server.transport.server import InfoGapServer

from ...conftest import load, make_settings


def test_a_server_without_an_evaluator_says_so_on_evaluate_models(tmp_path, tastes):
    with InfoGapServer(make_settings(tmp_path)) as server, Client(server.address) as client:
        load(client, tastes)
        assert client.train().models
        with pytest.raises(FailedPreconditionError, match="without the offline evaluation"):
            client.evaluate_models(candidates=["popularity"], k=5, max_users=5)
