"""The ``[artifacts]`` section: where trained model versions are shared between replicas."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

ARTIFACT_SCHEMES = ("file://", "s3://")


class ArtifactSettings(BaseModel):
    """The artifact store that every replica publishes model versions to and fetches them from.

    Without ``url`` (the default) model versions stay in the data directory's ``models/``
    folder only, as for a single server.
    """

    url: str | None = Field(
        default=None,
        description="file:///shared/dir or s3://bucket/prefix; the trainer uploads each model "
        "version under <url>/<catalog>/<version>/ and the other replicas download and verify "
        "it. None: model files stay local.",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="An S3-compatible endpoint (MinIO, Ceph, ...), e.g. http://minio:9000; "
        "None: AWS S3.",
    )
    s3_key: str | None = Field(
        default=None,
        description="S3 access key id; None takes the usual AWS_* environment variables or "
        "AWS configuration.",
    )
    s3_secret: str | None = Field(
        default=None,
        description="S3 secret access key; set it through INFOGAP_ARTIFACTS__S3_SECRET, not a file.",
    )

    @field_validator("url")
    @classmethod
    def _supported_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(ARTIFACT_SCHEMES):
            raise ValueError(
                f"artifacts.url must start with {' or '.join(ARTIFACT_SCHEMES)}; got {value!r}"
            )
        if value is not None and value.rstrip("/") in {s.rstrip("/") for s in ARTIFACT_SCHEMES}:
            raise ValueError(f"artifacts.url {value!r} names no folder or bucket")
        return value
