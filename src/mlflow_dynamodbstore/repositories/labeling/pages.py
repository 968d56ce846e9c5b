"""Keyset pages over one index listing, for the labeling and issue listings.

The SQL store pages these lists with offsets; here a page token is opaque urlsafe base64 JSON
holding the index sort key of the last item returned, so a page costs what it returns, not
everything before it, and items added or removed between pages shift nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.schema.indexes import AccessPattern

Item = dict[str, Any]
_VERSION = 1


def encode_token(sort_key: str) -> str:
    text = json.dumps({"v": _VERSION, "k": sort_key}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode()


def decode_token(page_token: str | None) -> str | None:
    """The sort key to resume after, or None for a first page; INVALID_PARAMETER_VALUE for
    anything this module did not issue (as the SQL store answers a bad offset token)."""
    if not page_token:
        return None
    try:
        raw = base64.urlsafe_b64decode(page_token.encode())
    except (binascii.Error, ValueError, TypeError, UnicodeError):
        # The SQL store's words for a token that is not base64 at all.
        raise MlflowException(
            "Invalid page token, could not base64-decode", INVALID_PARAMETER_VALUE
        ) from None
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeError):
        payload = None
    if not isinstance(payload, dict) or payload.get("v") != _VERSION:
        raise _invalid(page_token)
    key = payload.get("k")
    if not isinstance(key, str) or not key:
        raise _invalid(page_token)
    return key


def encode_offset_token(offset: int) -> str:
    """For orders no index holds (issues by trace count): an offset, as the SQL store's."""
    text = json.dumps({"v": _VERSION, "o": offset}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode()


def decode_offset_token(page_token: str | None) -> int:
    if not page_token:
        return 0
    try:
        payload = json.loads(base64.urlsafe_b64decode(page_token.encode()))
    except (binascii.Error, ValueError, TypeError, UnicodeError):
        raise MlflowException(
            "Invalid page token, could not base64-decode", INVALID_PARAMETER_VALUE
        ) from None
    if not isinstance(payload, dict) or payload.get("v") != _VERSION:
        raise _invalid(page_token)
    offset = payload.get("o")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise _invalid(page_token)
    return offset


def _invalid(page_token: str) -> MlflowException:
    return MlflowException(f"Invalid page token '{page_token}'", INVALID_PARAMETER_VALUE)


@dataclass(frozen=True)
class Page:
    items: list[Item]
    token: str | None


def read_page(
    gateway: TableGateway,
    pattern: AccessPattern,
    pk_value: str,
    *,
    max_results: int,
    page_token: str | None,
    forward: bool = True,
    keep: Callable[[Item], bool] | None = None,
) -> Page:
    """Up to ``max_results`` items of one index partition in index order (backwards when not
    ``forward``), resuming after the token's sort key and skipping items ``keep`` refuses.
    Reads ``max_results + 1`` matches at most (one Query per 1 MB), so a next page exists
    exactly when a token is returned."""
    after = decode_token(page_token)
    if after is None:
        condition = pattern.pk_eq(pk_value)
    elif forward:
        condition = pattern.key_condition(pk_value, lower=after + "\x00")
    else:
        condition = pattern.key_condition(pk_value, below=after)
    # Without a predicate every item read is returned: ask for exactly one more than a page.
    limit = max_results + 1 if keep is None else None
    picked: list[Item] = []
    for item in gateway.query(condition, index=pattern.index, forward=forward, limit=limit):
        if keep is not None and not keep(item):
            continue
        picked.append(item)
        if len(picked) > max_results:
            break
    if len(picked) > max_results:
        page = picked[:max_results]
        return Page(page, encode_token(pattern.sort_key(page[-1])))
    return Page(picked, None)
