"""The ``[server]`` section: how the process stops behind a load balancer."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ServerSettings(BaseModel):
    """Shutdown on SIGTERM: first drain (health says NOT_SERVING while calls are still
    served, so load balancers move traffic away), then stop with a grace period."""

    drain_seconds: float = Field(
        default=5.0,
        ge=0,
        le=3600,
        description="After SIGTERM: seconds of NOT_SERVING on gRPC health and /readyz while "
        "calls are still served. Set it above the balancer's health-check interval.",
    )
    grace_seconds: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description="After the drain: seconds running calls get to finish before they are "
        "cancelled.",
    )
