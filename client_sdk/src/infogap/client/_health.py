"""The standard gRPC health check (grpc.health.v1.Health/Check), without its generated code.

The health messages live in grpcio-health-checking, which the SDK does not depend on to stay
light (it is embedded in CRM, support and ad systems). The two messages are tiny, so they are
encoded and decoded here by hand:

- ``HealthCheckRequest { string service = 1; }``: asking about the whole server means an empty
  ``service``, and proto3 does not serialize default values, so the request is ``b""``.
- ``HealthCheckResponse { ServingStatus status = 1; }``: an enum, sent as a varint under tag
  ``(1 << 3) | 0``.
"""

from __future__ import annotations

import grpc

from ._errors import error_for_status

HEALTH_CHECK_METHOD = "/grpc.health.v1.Health/Check"

HEALTH_CHECK_REQUEST = b""
"""A serialized HealthCheckRequest for the server as a whole."""

_SERVING_STATUS_NAMES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}
_STATUS_FIELD_NUMBER = 1

# Protobuf wire types: how to find the end of a field this decoder does not need.
_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5


def decode_health_status(response: bytes) -> str:
    """The ServingStatus name in a serialized HealthCheckResponse.

    Raises:
        InfoGapError: with status INTERNAL when the response is not valid protobuf.
    """
    status = 0  # proto3 leaves a zero (UNKNOWN) status out of the message
    position = 0
    try:
        while position < len(response):
            tag, position = _read_varint(response, position)
            field_number, wire_type = tag >> 3, tag & 0b111
            if wire_type == _VARINT:
                value, position = _read_varint(response, position)
                if field_number == _STATUS_FIELD_NUMBER:
                    status = value  # the last occurrence wins, as in any protobuf parser
            elif wire_type == _LENGTH_DELIMITED:
                length, position = _read_varint(response, position)
                position += length
            elif wire_type == _FIXED64:
                position += 8
            elif wire_type == _FIXED32:
                position += 4
            else:
                raise ValueError(f"unsupported wire type {wire_type}")
        if position > len(response):
            raise ValueError("truncated field")
    except ValueError as error:
        raise error_for_status(
            grpc.StatusCode.INTERNAL, f"malformed health check response {response!r}: {error}"
        ) from error
    # An enum value added to the health protocol after this SDK reads as UNKNOWN.
    return _SERVING_STATUS_NAMES.get(status, "UNKNOWN")


def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    """The varint starting at position, and the position after it."""
    value = 0
    for shift in range(0, 64, 7):
        if position >= len(data):
            raise ValueError("truncated varint")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
    raise ValueError("varint longer than 10 bytes")
