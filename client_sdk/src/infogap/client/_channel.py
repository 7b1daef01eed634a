"""Channel options, retry policy and call metadata, shared by the sync and async clients."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

# Methods that are safe to send twice. RecordEvents is, because every event carries an id the
# server deduplicates on; Train and EvaluateModels (long and costly) and StreamEvents (a stream
# cannot be replayed) are not retried, nor are the ProfileService writes other than the upserts
# (PatchUsers, DefineSegment, DeleteSegment) and the experiment changes: a repeat could report
# NOT_FOUND, ALREADY_EXISTS or FAILED_PRECONDITION for a call that succeeded, and patches are
# not idempotent in general.
IDEMPOTENT_METHODS: tuple[tuple[str, str | None], ...] = (
    ("infogap.v1.FeedbackService", "RecordEvents"),
    ("infogap.v1.ProfileService", "UpsertUsers"),
    ("infogap.v1.ProfileService", "UpsertItems"),
    ("infogap.v1.ProfileService", "GetProfile"),
    ("infogap.v1.ProfileService", "GetProfiles"),
    ("infogap.v1.ProfileService", "ListSegments"),
    ("infogap.v1.ProfileService", "GetSegmentMembers"),
    ("infogap.v1.RecommendService", None),  # None: every method of the service
    ("infogap.v1.AdminService", "GetModelInfo"),
    ("infogap.v1.AdminService", "GetPrivacyBudget"),
    ("infogap.v1.AdminService", "ListPlugins"),
    ("infogap.v1.AdminService", "ListExperiments"),
    ("infogap.v1.AdminService", "GetExperimentReport"),
)

RETRY_POLICY: dict[str, Any] = {
    "maxAttempts": 4,
    "initialBackoff": "0.1s",
    "maxBackoff": "2s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}


def service_config() -> dict[str, Any]:
    """The gRPC service config: retry UNAVAILABLE on the idempotent methods only."""
    names = [
        {"service": service} if method is None else {"service": service, "method": method}
        for service, method in IDEMPOTENT_METHODS
    ]
    return {"methodConfig": [{"name": names, "retryPolicy": RETRY_POLICY}]}


def channel_options(user_options: Sequence[tuple[str, Any]] = ()) -> tuple[tuple[str, Any], ...]:
    """The SDK's channel options, with the caller's options taking precedence."""
    options: dict[str, Any] = {
        "grpc.enable_retries": 1,
        "grpc.service_config": json.dumps(service_config()),
    }
    options.update(user_options)
    return tuple(options.items())


def call_metadata(
    api_key: str | None, metadata: Sequence[tuple[str, str]] = ()
) -> tuple[tuple[str, str], ...]:
    """The metadata sent with every call: the API key first, then the caller's own entries."""
    authorization = () if api_key is None else (("authorization", f"Bearer {api_key}"),)
    return (*authorization, *((key, value) for key, value in metadata))


PemSource = bytes | str | os.PathLike[str]
"""PEM data as bytes, or the path of a PEM file as a str or path."""


def _pem(source: PemSource | None) -> bytes | None:
    if source is None or isinstance(source, bytes):
        return source
    return Path(source).read_bytes()


def tls_credentials(
    root_certificates: PemSource | None = None,
    client_certificate: PemSource | None = None,
    client_key: PemSource | None = None,
) -> grpc.ChannelCredentials:
    """TLS channel credentials from PEM data or files.

    Args:
        root_certificates: The CA(s) to verify the server with; None for the system's.
        client_certificate: The client's certificate chain, for mutual TLS.
        client_key: The client certificate's private key; needed with ``client_certificate``.
    """
    if (client_certificate is None) != (client_key is None):
        raise ValueError("client_certificate and client_key must be given together")
    return grpc.ssl_channel_credentials(
        root_certificates=_pem(root_certificates),
        private_key=_pem(client_key),
        certificate_chain=_pem(client_certificate),
    )


@dataclass(frozen=True)
class ClientSettings:
    """What a client was configured with, checked and turned into gRPC terms."""

    target: str
    timeout: float
    metadata: tuple[tuple[str, str], ...]
    options: tuple[tuple[str, Any], ...]
    credentials: grpc.ChannelCredentials | None

    @classmethod
    def create(
        cls,
        target: str,
        *,
        timeout: float,
        api_key: str | None,
        metadata: Sequence[tuple[str, str]],
        credentials: grpc.ChannelCredentials | None,
        options: Sequence[tuple[str, Any]],
        root_certificates: PemSource | None = None,
        client_certificate: PemSource | None = None,
        client_key: PemSource | None = None,
    ) -> ClientSettings:
        """Checks the arguments of a client; any TLS file given becomes TLS ``credentials``."""
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        if api_key is not None and not api_key:
            # Most likely an unset environment variable: say so rather than send "Bearer ".
            raise ValueError("api_key is empty; pass None to send no API key")
        tls_files = (root_certificates, client_certificate, client_key)
        if any(source is not None for source in tls_files):
            if credentials is not None:
                raise ValueError("pass either credentials or TLS certificates, not both")
            credentials = tls_credentials(*tls_files)
        return cls(
            target=target,
            timeout=timeout,
            metadata=call_metadata(api_key, metadata),
            options=channel_options(options),
            credentials=credentials,
        )

    def deadline(self, timeout: float | None) -> float:
        """The timeout of one call: its own if given, else the client's."""
        return self.timeout if timeout is None else timeout
