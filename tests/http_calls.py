"""Plain HTTP calls for the tests of the HTTP port (urllib: what a webhook or curl sends)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any


def call(
    url: str,
    body: object | None = None,
    *,
    headers: dict[str, str] | None = None,
    method: str | None = None,
    raw: bytes | None = None,
    context: ssl.SSLContext | None = None,
    timeout: float = 30,
) -> tuple[int, Any]:
    """POSTs ``body`` as JSON, or the ``raw`` bytes (GET without either); returns the status
    and the decoded JSON answer (the text when it is not JSON)."""
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            status, answer = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, answer = error.code, error.read()
    try:
        return status, json.loads(answer)
    except ValueError:
        return status, answer.decode(errors="replace")


def rpc(base_url: str, method: str, body: object, **kwargs: Any) -> tuple[int, Any]:
    """A Connect unary call with a JSON body: ``rpc(url, "RecommendService/Recommend", {...})``."""
    return call(f"{base_url}/infogap.v1.{method}", body, **kwargs)
