"""The ``[telemetry]`` section: Prometheus metrics, OpenTelemetry traces and the log format."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator


class TelemetrySettings(BaseModel):
    """What the server tells an operator about itself while it runs."""

    metrics: bool = Field(
        default=True,
        description="Count requests, latencies, ingestion, training, caches and experiments "
        "for /metrics (Prometheus text on the HTTP port). False skips the counting (the bench "
        "measures what it costs).",
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/gRPC collector receiving a trace span per RPC, e.g. "
        "http://localhost:4317 (http:// is sent in plain text, https:// over TLS). None: no "
        "tracing.",
    )
    service_name: str = Field(
        default="infogap", min_length=1, description="service.name of the spans' resource."
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="How `infogap serve` logs: text lines, or one JSON object per line (time, "
        "level, logger, message, exception) for log collectors.",
    )

    @field_validator("otlp_endpoint")
    @classmethod
    def _endpoint_with_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(
                f"telemetry.otlp_endpoint must start with http:// or https://; got {value!r}"
            )
        return value
