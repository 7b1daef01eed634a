"""The server assembly: the core, the offline evaluation it reaches through
``HistoryEvaluator``, and the gRPC transport, wired together. It sits above all three, so
none of them imports another upwards."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from infogap.server.config import Settings
from infogap.server.evaluation.history import OfflineEvaluator
from infogap.server.transport.server import InfoGapServer


def build_server(
    settings: Settings, extra_plugins: Iterable[tuple[str, Any]] = ()
) -> InfoGapServer:
    """The server ``infogap serve`` runs (not started yet): every RPC, EvaluateModels included.

    :raises InsecureListenerError: when the settings would expose the server.
    :raises StartupError: when the core refuses the configuration.
    """
    return InfoGapServer(settings, extra_plugins, evaluator=OfflineEvaluator())
