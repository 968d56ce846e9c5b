"""Trace ids across MLflow, OpenTelemetry and X-Ray, both ways and exact.

- MLflow: ``tr-<32 hex>`` (MLflow's id for an OTel trace id).
- OTel: the same 32 lowercase hex digits (a 128-bit integer).
- X-Ray: ``1-<first 8 hex>-<last 24 hex>``; the first 8 hex are the trace's start in epoch
  seconds when the OTel id was made by the X-Ray id generator, which X-Ray requires
  (the ADOT ``awsxray`` exporter drops spans whose id is older than 30 days or in the future).

Span ids are the same 16 hex digits in all three.
"""

from __future__ import annotations

import re
import time

MLFLOW_PREFIX = "tr-"
XRAY_RETENTION_SECONDS = 30 * 24 * 3600
# X-Ray accepts trace ids up to a few minutes in the future (clock skew).
_FUTURE_SLACK_SECONDS = 5 * 60

_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_XRAY = re.compile(r"^1-([0-9a-f]{8})-([0-9a-f]{24})$")
_SPAN = re.compile(r"^[0-9a-f]{16}$")


class UnmappableId(ValueError):
    """An id with no counterpart on the other side (not an OTel-based MLflow id, or not
    an X-Ray version 1 id)."""


def otel_hex_from_mlflow(trace_id: str) -> str:
    if not isinstance(trace_id, str) or not trace_id.startswith(MLFLOW_PREFIX):
        raise UnmappableId(f"'{trace_id}' is not an MLflow trace id of the form tr-<32 hex>")
    hex_id = trace_id[len(MLFLOW_PREFIX) :]
    if not _HEX32.match(hex_id) or int(hex_id, 16) == 0:
        raise UnmappableId(f"'{trace_id}' is not an MLflow trace id of the form tr-<32 hex>")
    return hex_id


def mlflow_from_otel_hex(hex_id: str) -> str:
    if not isinstance(hex_id, str) or not _HEX32.match(hex_id) or int(hex_id, 16) == 0:
        raise UnmappableId(f"'{hex_id}' is not a 32 hex digit OTel trace id")
    return MLFLOW_PREFIX + hex_id


def xray_from_otel_hex(hex_id: str) -> str:
    mlflow_from_otel_hex(hex_id)  # validates
    return f"1-{hex_id[:8]}-{hex_id[8:]}"


def otel_hex_from_xray(xray_id: str) -> str:
    match = _XRAY.match(xray_id) if isinstance(xray_id, str) else None
    if match is None:
        raise UnmappableId(f"'{xray_id}' is not an X-Ray trace id of the form 1-<8 hex>-<24 hex>")
    return match.group(1) + match.group(2)


def xray_from_mlflow(trace_id: str) -> str:
    return xray_from_otel_hex(otel_hex_from_mlflow(trace_id))


def mlflow_from_xray(xray_id: str) -> str:
    return mlflow_from_otel_hex(otel_hex_from_xray(xray_id))


def xray_epoch_seconds(xray_id: str) -> int:
    """The start time X-Ray reads from the id's first 8 hex digits."""
    return int(otel_hex_from_xray(xray_id)[:8], 16)


def xray_would_accept(trace_id: str, now: float | None = None) -> bool:
    """Whether X-Ray can hold this MLflow trace: an OTel-based id whose embedded epoch is
    within X-Ray's 30 days and not in the future."""
    try:
        seconds = xray_epoch_seconds(xray_from_mlflow(trace_id))
    except UnmappableId:
        return False
    now = time.time() if now is None else now
    return now - XRAY_RETENTION_SECONDS <= seconds <= now + _FUTURE_SLACK_SECONDS


def is_span_id(span_id: str) -> bool:
    return isinstance(span_id, str) and bool(_SPAN.match(span_id)) and int(span_id, 16) != 0


def xray_may_hold(trace_id: str, now: float | None = None) -> bool:
    """Whether X-Ray can still have this trace when read at ``now``: an id X-Ray accepts,
    started less than its 30 days (and a day of slack for late ingestion) ago. Other ids
    are answered "missing" without a call."""
    try:
        seconds = xray_epoch_seconds(xray_from_mlflow(trace_id))
    except UnmappableId:
        return False
    now = time.time() if now is None else now
    return now - XRAY_RETENTION_SECONDS - 86400 <= seconds <= now + _FUTURE_SLACK_SECONDS
