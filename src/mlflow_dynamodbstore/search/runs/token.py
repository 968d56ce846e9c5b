"""search_runs page tokens: opaque urlsafe-base64 JSON holding the sort key of the last run
returned (a keyset cursor), not an offset.

Resuming from a sort key stays correct across several experiments and when runs are added
or deleted between pages (no run is returned twice or skipped because others moved), and it
lets the index walks start at the cursor instead of re-reading everything before it.
"""

from __future__ import annotations

import base64
import binascii
import json
import math

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from mlflow_dynamodbstore.search.runs.filter import METRIC
from mlflow_dynamodbstore.search.runs.order import MISSING, NAN, PRESENT, RunOrder

NUMERIC_ATTRIBUTES = ("start_time", "end_time")

_VERSION = 1


def encode_page_token(order: RunOrder, last_key: list) -> str:
    payload = {"v": _VERSION, "o": order.fingerprint(), "k": last_key}
    text = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_page_token(order: RunOrder, page_token: str | None) -> list | None:
    """The raw sort key (``RunOrder.token_key``) to resume after, or None for a first page."""
    if not page_token:
        return None
    try:
        padded = page_token + "=" * (-len(page_token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, TypeError, UnicodeError):
        raise _invalid(page_token) from None
    if not isinstance(payload, dict) or payload.get("v") != _VERSION:
        raise _invalid(page_token)
    if payload.get("o") != order.fingerprint():
        raise MlflowException(
            "Invalid page token: it was issued for a search with a different order_by",
            error_code=INVALID_PARAMETER_VALUE,
        )
    raw = payload.get("k")
    if not _well_formed(order, raw):
        raise _invalid(page_token)
    return raw


def _well_formed(order: RunOrder, raw: object) -> bool:
    """Shape and value types a token of this order must have: the planner computes index
    bounds from them, so a doctored token must fail here, not in arithmetic later."""
    expected = len(order.clauses) + (1 if order.orders_by_start_time else 2)
    if not isinstance(raw, list) or len(raw) != expected or not isinstance(raw[-1], str):
        return False
    for clause, part in zip(order.clauses, raw, strict=False):
        if not (isinstance(part, list) and len(part) == 2):
            return False
        flag, value = part
        flags = (PRESENT, NAN, MISSING) if clause.kind == METRIC else (PRESENT, NAN)
        if _is_bool(flag) or flag not in flags:
            return False
        if flag != PRESENT:
            if value != 0:
                return False
        elif clause.kind == METRIC:
            if _is_bool(value) or not isinstance(value, int | float) or math.isnan(value):
                return False
        elif clause.key in NUMERIC_ATTRIBUTES:
            if not _is_time(value):
                return False
        elif not isinstance(value, str):
            return False
    if not order.orders_by_start_time:
        start_time = raw[len(order.clauses)]
        return start_time is None or _is_time(start_time)
    return True


def _is_time(value: object) -> bool:
    """Milliseconds that index keys can encode (64-bit, with room for the +1 of a bound)."""
    return isinstance(value, int) and not _is_bool(value) and -(2**63) <= value < 2**63 - 1


def _is_bool(value: object) -> bool:
    return isinstance(value, bool)


def _invalid(page_token: str) -> MlflowException:
    return MlflowException(f"Invalid page token '{page_token}'", error_code=INVALID_PARAMETER_VALUE)
