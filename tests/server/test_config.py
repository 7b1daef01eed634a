"""Settings validation at load time."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infogap.server.config import load_settings


def test_incomplete_tls_settings_are_rejected_when_loaded():
    with pytest.raises(ValidationError, match="go together"):
        load_settings(auth={"tls_cert_file": "server.pem"})
    with pytest.raises(ValidationError, match="needs a server certificate"):
        load_settings(auth={"tls_client_ca_file": "ca.pem"})


def test_telemetry_defaults_and_validation(monkeypatch):
    telemetry = load_settings().telemetry
    assert (telemetry.metrics, telemetry.otlp_endpoint, telemetry.log_format) == (
        True,
        None,
        "text",
    )
    with pytest.raises(ValidationError, match="must start with http:// or https://"):
        load_settings(telemetry={"otlp_endpoint": "localhost:4317"})
    with pytest.raises(ValidationError, match="log_format"):
        load_settings(telemetry={"log_format": "xml"})
    monkeypatch.setenv("INFOGAP_TELEMETRY__METRICS", "false")
    assert load_settings().telemetry.metrics is False
