"""ORDER BY and keyset page tokens of the MCP registry searches, with the SQL store's
order_by parsing (valid keys, duplicates, the tie-breakers it appends).

The SQL store pages by offset; here a token holds the sort key of the last row returned,
so a page resumes after it wherever that row now is (rows added or deleted between pages
neither repeat nor vanish), and the name-ordered server listing starts its Query there.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.utils.search_utils import SearchUtils

Row = Any
Getter = Callable[[Row], Any]


@dataclass(frozen=True)
class Term:
    name: str
    get: Getter
    ascending: bool


class _Key:
    """One ORDER BY term's value; never None in these searches (every key is NOT NULL)."""

    __slots__ = ("ascending", "value")

    def __init__(self, value: Any, ascending: bool):
        self.value = value
        self.ascending = ascending

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Key) and self.value == other.value

    def __lt__(self, other: _Key) -> bool:
        return self.value < other.value if self.ascending else other.value < self.value


@dataclass(frozen=True)
class Order:
    terms: tuple[Term, ...]

    def raw_key(self, row: Row) -> list:
        return [t.get(row) for t in self.terms]

    def key(self, raw: Sequence[Any]) -> tuple:
        return tuple(_Key(v, t.ascending) for v, t in zip(raw, self.terms, strict=True))

    def sort(self, rows: list[Row]) -> list[Row]:
        return sorted(rows, key=lambda r: self.key(self.raw_key(r)))

    def after(self, rows: list[Row], raw: list | None) -> list[Row]:
        """``rows`` (sorted) past the token's key."""
        if raw is None:
            return rows
        cursor = self.key(raw)
        return [r for r in rows if cursor < self.key(self.raw_key(r))]

    def fingerprint(self) -> str:
        return ",".join(f"{t.name}:{'a' if t.ascending else 'd'}" for t in self.terms)

    @property
    def is_name_ascending(self) -> bool:
        return [(t.name, t.ascending) for t in self.terms] == [("name", True)]


def parse_order_by(
    order_by: list[str] | None,
    columns: dict[str, Sequence[Term]],
    tie_breakers: Sequence[tuple[str, Sequence[Term]]],
) -> Order:
    """The SQL store's ``_parse_search_mcp_*_order_by``: each clause a valid key at most
    once, then each tie-breaker whose key was not given."""
    observed: set[str] = set()
    terms: list[Term] = []
    for clause in order_by or []:
        token_value, is_ascending = SearchUtils._parse_order_by_string(clause)
        key = token_value.strip()
        if key not in columns:
            raise MlflowException(
                f"Invalid order_by key '{key}'. Valid keys: {sorted(columns)}",
                error_code=INVALID_PARAMETER_VALUE,
            )
        if key in observed:
            raise MlflowException(
                f"Duplicate order_by field: '{key}'", error_code=INVALID_PARAMETER_VALUE
            )
        observed.add(key)
        terms += [Term(t.name, t.get, is_ascending) for t in columns[key]]
    for key, extra in tie_breakers:
        if key not in observed:
            terms += list(extra)
    return Order(tuple(terms))


# ---- page tokens ---------------------------------------------------------------------------
_TOKEN_VERSION = 1


def encode_token(order: Order, raw_key: list) -> str:
    payload = {"v": _TOKEN_VERSION, "o": order.fingerprint(), "k": raw_key}
    text = json.dumps(payload, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_token(order: Order, page_token: str | None) -> list | None:
    if not page_token:
        return None
    try:
        padded = page_token + "=" * (-len(page_token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, TypeError, UnicodeError):
        # the SQL store's message for a token it cannot decode
        raise MlflowException(
            "Invalid page token, could not base64-decode", error_code=INVALID_PARAMETER_VALUE
        ) from None
    if not isinstance(payload, dict) or payload.get("v") != _TOKEN_VERSION:
        raise _invalid(page_token)
    if payload.get("o") != order.fingerprint():
        raise MlflowException(
            "Invalid page token: it was issued for a search with a different order_by",
            error_code=INVALID_PARAMETER_VALUE,
        )
    raw = payload.get("k")
    if not isinstance(raw, list) or len(raw) != len(order.terms):
        raise _invalid(page_token)
    for value in raw:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise _invalid(page_token)
    try:
        order.key(raw) < order.key(raw)  # noqa: B015 - types must compare with real rows'
    except TypeError:
        raise _invalid(page_token) from None
    return raw


def _invalid(page_token: str) -> MlflowException:
    return MlflowException(
        f"Invalid page token '{page_token}'.", error_code=INVALID_PARAMETER_VALUE
    )


def check_max_results(max_results: Any, threshold: int | None = None) -> None:
    """The SQL store's ``_validate_max_results_param`` (and the MCP servers' own 1000)."""
    if max_results is None or not isinstance(max_results, int) or max_results < 1:
        raise MlflowException(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be "
            f"a positive integer",
            INVALID_PARAMETER_VALUE,
        )
    from mlflow.store.tracking import SEARCH_MAX_RESULTS_THRESHOLD

    if max_results > SEARCH_MAX_RESULTS_THRESHOLD:
        raise MlflowException(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be at "
            f"most {SEARCH_MAX_RESULTS_THRESHOLD}",
            INVALID_PARAMETER_VALUE,
        )
    if threshold is not None and max_results > threshold:
        raise MlflowException(
            f"Invalid value for max_results. It must be at most {threshold}, but got {max_results}",
            error_code=INVALID_PARAMETER_VALUE,
        )
