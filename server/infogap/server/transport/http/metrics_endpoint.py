"""``/metrics``: a server's Prometheus registry as Prometheus text (or OpenMetrics, when the
scraper asks for it), for keys with the read scope when keys are configured."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, make_wsgi_app

from infogap.server.transport.http.gate import HttpGate, Refused
from infogap.server.transport.http.responses import StartResponse, WSGIApp, error_response

# The least a key can do: Prometheus scrapes with a read key (its bearer_token), never an
# admin one. Metrics name catalogs, experiments and model versions, but no user.
METRICS_SCOPE = "read"


def metrics_endpoint(registry: CollectorRegistry, gate: HttpGate) -> WSGIApp:
    """The WSGI app serving ``registry``; refusals answer Connect's error JSON."""
    exposition = make_wsgi_app(registry)

    def metrics(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            gate.admit(environ, METRICS_SCOPE)
        except Refused as refused:
            return error_response(start_response, refused.connect_code, refused.message)
        answer: Iterable[bytes] = exposition(environ, start_response)
        return answer

    return metrics
