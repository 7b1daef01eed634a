"""The ``[store]`` section: where the state is kept, and how replicas sharing it follow each
other."""

from __future__ import annotations

from pydantic import BaseModel, Field


class StoreSettings(BaseModel):
    """Where the state is kept, and how replicas sharing it keep up with each other."""

    url: str | None = Field(
        default=None,
        description="postgresql://USER@HOST:PORT/DB to keep everything in PostgreSQL, shared "
        "by every replica; None: the DuckDB file in data_dir (one process).",
    )
    poll_seconds: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="Replicas on PostgreSQL: how often events committed by other replicas are "
        "read when no notification woke the reader first (the fallback of LISTEN/NOTIFY).",
    )
    model_poll_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="Replicas on PostgreSQL: how often the serving model versions and running "
        "experiments are compared with the store when no notification came.",
    )
