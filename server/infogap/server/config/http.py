"""The ``[http]`` section: the HTTP listener beside gRPC (Connect, CDP intake, metrics, console)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class HttpSettings(BaseModel):
    """Where HTTP/1.1 callers reach the server: the Connect protocol (JSON or binary) for the
    same RPCs as gRPC, and the HTTP-only endpoints. Same host, keys and TLS as gRPC."""

    port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port of the HTTP listener; None: no HTTP listener; 0: any free port.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Web page origins allowed to call from a browser (CORS), e.g. "
        '"https://crm.example.com"; "*" for any. Empty: no CORS headers.',
    )
    threads: int = Field(
        default=16, ge=1, le=1024, description="HTTP worker threads (one per call in flight)."
    )
