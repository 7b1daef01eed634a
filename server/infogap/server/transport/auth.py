"""Who may call the server, and over what: API keys with scopes, rate limits, deadlines, TLS.

Every call to an InfoGap service passes through :class:`AuthInterceptor` before any work is
done. The interceptor refuses, in this order:

1. a call whose deadline has already passed (``DEADLINE_EXCEEDED``): its caller has given up;
2. a call without a known API key (``UNAUTHENTICATED``), when keys are configured;
3. a call from a key that exceeded its rate (``RESOURCE_EXHAUSTED``), when a rate is configured;
4. a call whose key lacks the method's scope (``PERMISSION_DENIED``).

Health checking and server reflection are never authenticated: load balancers and tooling
call them without credentials.

:func:`check_listener` makes the server fail closed: it refuses to listen beyond loopback
without API keys, or with API keys but without TLS, unless ``auth.insecure`` says otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, get_args

import grpc

from infogap.server.config import ApiKeySettings, AuthSettings
from infogap.server.transport.interceptors import Behavior, WrappingInterceptor

log = logging.getLogger(__name__)

# The scope names, taken from the settings model so that they are spelt in one place.
SCOPES: tuple[str, ...] = get_args(get_args(ApiKeySettings.model_fields["scopes"].annotation)[0])

# The scope each RPC needs. Every RPC of the InfoGap services must be listed: a unit test
# compares this table with the services' descriptors, and an unlisted method is refused.
_SCOPES_BY_SERVICE: dict[str, dict[str, str]] = {
    "infogap.v1.FeedbackService": {
        "RecordEvents": "ingest",
        "StreamEvents": "ingest",
    },
    "infogap.v1.ProfileService": {
        "UpsertUsers": "ingest",
        "PatchUsers": "ingest",
        "UpsertItems": "ingest",
        "GetProfile": "read",
        "GetProfiles": "read",
        "ListSegments": "read",
        "GetSegmentMembers": "read",
        "DefineSegment": "admin",
        "DeleteSegment": "admin",
    },
    "infogap.v1.RecommendService": {
        "Recommend": "read",
        "SimilarItems": "read",
        "RankItems": "read",
    },
    "infogap.v1.AdminService": {
        "Train": "admin",
        "GetModelInfo": "admin",
        "ListPlugins": "admin",
        "DeleteUser": "admin",
        "GetPrivacyBudget": "admin",
        "EvaluateModels": "admin",
        "CreateExperiment": "admin",
        "StartExperiment": "admin",
        "StopExperiment": "admin",
        "ListExperiments": "admin",
        "GetExperimentReport": "admin",
    },
}

METHOD_SCOPES: dict[str, str] = {
    f"/{service}/{method}": scope
    for service, methods in _SCOPES_BY_SERVICE.items()
    for method, scope in methods.items()
}
"""Required scope by full gRPC method name, e.g. ``/infogap.v1.AdminService/Train``."""

# Services open to every caller (their method names start with these).
PUBLIC_SERVICE_PREFIXES: tuple[str, ...] = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)

_LOOPBACK_NAMES = frozenset({"localhost"})


class InsecureListenerError(RuntimeError):
    """The server was asked to listen where callers or their keys would be unprotected."""


def hash_api_key(key: str) -> str:
    """The hex SHA-256 of an API key, as written in ``[[auth.keys]]``."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an IP address, IPv6 possibly in brackets) is loopback only.

    Names other than ``localhost`` count as reachable from elsewhere: what they resolve to is
    not ours to trust.
    """
    host = host.strip().removeprefix("[").removesuffix("]")
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listener(host: str, auth: AuthSettings) -> None:
    """Refuses a listener that would expose the server, unless ``auth.insecure`` allows it.

    :raises InsecureListenerError: on a non-loopback ``host`` with no API keys, or with API
        keys but no TLS (bearer tokens would cross the network in clear text).
    """
    if auth.insecure or is_loopback(host):
        return
    override = "set auth.insecure = true (or pass --insecure) to allow it anyway"
    if not auth.keys:
        raise InsecureListenerError(
            f"refusing to listen on {host!r} without API keys: anyone who can reach it could "
            f"read and change all data. Add [[auth.keys]] (see `infogap keys generate`), or "
            f"{override}."
        )
    if auth.tls_cert_file is None:
        raise InsecureListenerError(
            f"refusing to listen on {host!r} with API keys but without TLS: the keys would "
            f"cross the network in clear text. Set auth.tls_cert_file and auth.tls_key_file, "
            f"or {override}."
        )


def server_credentials(auth: AuthSettings) -> grpc.ServerCredentials | None:
    """TLS credentials from ``auth`` (mutual TLS when a client CA is set); None for plaintext.
    ``AuthSettings`` already guarantees the TLS settings are complete.

    :raises OSError: when a certificate or key file cannot be read.
    """
    if auth.tls_cert_file is None or auth.tls_key_file is None:
        return None
    client_ca = auth.tls_client_ca_file
    return grpc.ssl_server_credentials(
        [(auth.tls_key_file.read_bytes(), auth.tls_cert_file.read_bytes())],
        root_certificates=None if client_ca is None else client_ca.read_bytes(),
        require_client_auth=client_ca is not None,
    )


@dataclass
class TokenBucket:
    """Allows ``rate`` calls per second on average and up to ``capacity`` at once."""

    rate: float
    capacity: float
    tokens: float = field(init=False)
    updated: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.capacity

    def take(self, now: float) -> bool:
        """Spends a token if one is left (after refilling for the time since the last call)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class RateLimiter:
    """One token bucket per API key, shared by the server's worker threads."""

    def __init__(self, requests_per_second: float, burst: int) -> None:
        self.requests_per_second = requests_per_second
        self.burst = burst
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def allow(self, key_hash: str) -> bool:
        """Whether the key identified by ``key_hash`` may make one more call now."""
        with self._lock:
            bucket = self._buckets.get(key_hash)
            if bucket is None:
                bucket = self._buckets[key_hash] = TokenBucket(self.requests_per_second, self.burst)
            return bucket.take(time.monotonic())


class Refusal(Exception):
    """Why a call is not admitted: the status and message it is refused with."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Admission:
    """The checks every authenticated call passes, whatever its transport (gRPC or HTTP):
    a known key, within its rate, with the scope asked for.

    ``enabled`` is false when no keys are configured: everything is admitted then.
    """

    def __init__(self, auth: AuthSettings) -> None:
        self._keys: tuple[ApiKeySettings, ...] = tuple(auth.keys)
        rate = auth.requests_per_second_per_key
        self._rate_limiter = (
            RateLimiter(rate, auth.burst) if self._keys and rate is not None else None
        )

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def admit_method(self, method: str, authorization: Sequence[str]) -> ApiKeySettings | None:
        """Admits a call to the RPC ``method`` (``/package.Service/Method``) presenting the
        ``authorization`` header values; returns its key (None when keys are off).

        :raises Refusal: with the status the call must end with.
        """
        return self.admit(METHOD_SCOPES.get(method), method, authorization)

    def admit(
        self, scope: str | None, target: str, authorization: Sequence[str]
    ) -> ApiKeySettings | None:
        """Admits a call to ``target`` (an RPC or an HTTP path, named in refusals) needing
        ``scope``; returns its key (None when keys are off). A target without a scope is
        refused to every key: it is a bug, and refusing keeps it from being open.

        :raises Refusal: with the status the call must end with.
        """
        if not self._keys:
            return None
        key = self._authenticate(authorization)
        if self._rate_limiter is not None and not self._rate_limiter.allow(key.sha256):
            raise Refusal(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"rate limit exceeded for API key {key.name!r}: "
                f"{self._rate_limiter.requests_per_second:g} requests per second per key "
                f"(bursts of {self._rate_limiter.burst})",
            )
        if scope is None:
            log.error("no scope is defined for %s; refusing the call", target)
            raise Refusal(
                grpc.StatusCode.PERMISSION_DENIED, f"{target} has no scope; no key may call it"
            )
        if scope not in key.scopes:
            raise Refusal(
                grpc.StatusCode.PERMISSION_DENIED,
                f"API key {key.name!r} lacks the {scope!r} scope needed for {target}",
            )
        return key

    def _authenticate(self, values: Sequence[str]) -> ApiKeySettings:
        """The configured key presented as ``Bearer <key>``, or as HTTP Basic credentials
        (the key as the password, or as the user name when the password is empty: the
        convention of Segment's write keys, and what a browser's login prompt sends)."""
        if not values:
            raise Refusal(
                grpc.StatusCode.UNAUTHENTICATED,
                "missing API key: send metadata 'authorization: Bearer <API key>'",
            )
        presented = _presented_key(values)
        if presented is None:
            raise Refusal(
                grpc.StatusCode.UNAUTHENTICATED,
                "malformed authorization metadata: expected one 'authorization: Bearer <API key>'",
            )
        presented_hash = hash_api_key(presented)
        # Compare with every key, without stopping at a match, so timing reveals nothing.
        found: ApiKeySettings | None = None
        for key in self._keys:
            if hmac.compare_digest(presented_hash, key.sha256):
                found = key
        if found is None:
            raise Refusal(grpc.StatusCode.UNAUTHENTICATED, "unknown API key")
        return found


def _presented_key(values: Sequence[str]) -> str | None:
    """The key in one ``authorization`` value, ``Bearer <key>`` or ``Basic <base64>``; None
    when there are several values or the one is malformed."""
    if len(values) != 1:
        return None
    scheme, _, credentials = values[0].strip().partition(" ")
    credentials = credentials.strip()
    if not credentials:
        return None
    if scheme.lower() == "bearer":
        return credentials
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(credentials, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return password or user or None


class AuthInterceptor(WrappingInterceptor):
    """Admits or refuses each call to an InfoGap service before it does any work.

    The server installs it only when keys are configured. Each method's wrapped handler is
    built once; the checks themselves run on every call.
    """

    def __init__(self, auth: AuthSettings) -> None:
        super().__init__()
        self._admission = Admission(auth)

    def applies(self, method: str) -> bool:
        return not method.startswith(PUBLIC_SERVICE_PREFIXES)

    def wrap(self, behavior: Behavior, method: str) -> Behavior:
        def admitted(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                self._admission.admit_method(method, _authorization(context))
            except Refusal as refusal:
                context.abort(refusal.code, refusal.message)
            return behavior(request, context)

        return admitted


def _authorization(context: grpc.ServicerContext) -> list[str]:
    """The call's ``authorization`` metadata values, as text."""
    return [
        value if isinstance(value, str) else value.decode("latin-1")
        for name, value in context.invocation_metadata() or ()
        if name == "authorization"
    ]
