"""search_traces' ORDER BY, with the SQL store's parsing and ordering, and its keyset page
tokens.

The SQL store orders by each clause (NULLs last in either direction: ``CASE WHEN value IS
NULL THEN 1 ELSE 0``), then ``timestamp_ms DESC`` and ``request_id ASC`` unless given. The
request id makes every order total, so the sort values of the last trace returned are a
position: a page token holds them and the next page starts right after them.

Tokens are search/registry/keyset.py's: base64 JSON naming the search (here a fingerprint
of the requested experiment ids), the order and the filter (a fingerprint of it), with the
position. A token only pages the search that issued it; another experiment list, order or
filter, or a token that is not one of these, is refused with INVALID_PARAMETER_VALUE.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.tracing.constant import TraceMetadataKey, TraceTagKey
from mlflow.utils.search_utils import SearchTraceUtils

from mlflow_dynamodbstore.compat.trace_analytics import TRACE_ANALYTICS_COLUMNS_BY_METADATA_KEY
from mlflow_dynamodbstore.repositories.traces.codec import decode_analytics
from mlflow_dynamodbstore.search.registry import keyset

Item = dict[str, Any]
ATTRIBUTE = "attribute"
# The SQL store's tie-breakers, appended unless the order names them.
TIE_BREAKERS = (("timestamp_ms", False), ("request_id", True))
_NOT_NULL_INTEGERS = frozenset({"timestamp_ms", "experiment_id", "end_time_ms"})
_NOT_NULL_TEXTS = frozenset({"request_id", "status"})
_NULLABLE_INTEGERS = frozenset({"execution_time_ms"})


def order_value(item: Item, key_type: str, key: str) -> Any:
    """The value a META item sorts by for one ORDER BY term (None: SQL NULL)."""
    if key_type == ATTRIBUTE:
        if key == "request_id":
            return item["trace_id"]
        if key == "experiment_id":
            return int(item["experiment_id"])
        if key == "end_time_ms":
            return int(item["timestamp_ms"]) + int(item.get("execution_time_ms") or 0)
        value = item.get(key)
        if key in ("timestamp_ms", "execution_time_ms") and value is not None:
            return int(value)
        return value
    if key_type == "tag":
        if key == TraceTagKey.TRACE_NAME:
            return item.get("trace_name")
        return (item.get("tags") or {}).get(key)
    if key == TraceMetadataKey.TRACE_SESSION:
        return decode_analytics(item.get("analytics"))["session_id"]
    return (item.get("metadata") or {}).get(key)


class _NullsLast:
    """One ORDER BY term's value: NULL after every value in either direction (SQL store)."""

    __slots__ = ("ascending", "value")

    def __init__(self, value: Any, ascending: bool):
        self.value = value
        self.ascending = ascending

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _NullsLast) and self.value == other.value

    def __lt__(self, other: _NullsLast) -> bool:
        a, b = self.value, other.value
        if a is None or b is None:
            return a is not None and b is None
        return a < b if self.ascending else b < a

    def __gt__(self, other: _NullsLast) -> bool:
        return other < self


@dataclass(frozen=True)
class Term:
    key_type: str
    key: str
    ascending: bool

    @property
    def field(self) -> str:
        return f"{self.key_type}.{self.key}"

    def value(self, item: Item) -> Any:
        return order_value(item, self.key_type, self.key)

    @property
    def token_type(self) -> tuple[type, ...]:
        """The JSON types a position may hold for this term (None where SQL has NULLs)."""
        if self.key_type == ATTRIBUTE and self.key in _NOT_NULL_INTEGERS:
            return (int,)
        if self.key_type == ATTRIBUTE and self.key in _NOT_NULL_TEXTS:
            return (str,)
        if self.key_type == ATTRIBUTE and self.key in _NULLABLE_INTEGERS:
            return (int, type(None))
        return (str, type(None))


@dataclass(frozen=True)
class TraceOrder:
    terms: tuple[Term, ...]

    @property
    def fields(self) -> list[tuple[str, bool]]:
        return [(t.field, t.ascending) for t in self.terms]

    def raw(self, item: Item) -> list:
        """The trace's sort values (what a page token stores)."""
        return [t.value(item) for t in self.terms]

    def key_of(self, raw: list) -> tuple:
        return tuple(_NullsLast(v, t.ascending) for v, t in zip(raw, self.terms, strict=True))

    def key(self, item: Item) -> tuple:
        return self.key_of(self.raw(item))

    def starts_with(self, *pairs: tuple[str, bool]) -> bool:
        """Whether the order begins with these attribute terms (name, ascending)."""
        head = [
            (t.key, t.ascending) if t.key_type == ATTRIBUTE else None
            for t in self.terms[: len(pairs)]
        ]
        return head == list(pairs)

    @property
    def first(self) -> Term:
        return self.terms[0]


def parse_order_by(order_by: list[str] | None) -> TraceOrder:
    """Parse and check order_by clauses with MLflow's parser and the SQL store's errors."""
    terms: list[Term] = []
    seen: set[tuple[str, str]] = set()
    for clause in order_by or []:
        key_type, key, ascending = SearchTraceUtils.parse_order_by_for_search_traces(clause)
        if (
            SearchTraceUtils.is_request_metadata(key_type, "=")
            and key in TRACE_ANALYTICS_COLUMNS_BY_METADATA_KEY
        ):
            raise MlflowException.invalid_parameter_value(
                f"Ordering by reserved metadata '{key}' is not supported because it is "
                "represented by multiple columns."
            )
        if not (
            SearchTraceUtils.is_attribute(key_type, key, "=")
            or SearchTraceUtils.is_tag(key_type, "=")
            or SearchTraceUtils.is_request_metadata(key_type, "=")
        ):
            raise MlflowException(
                f"Invalid identifier type '{key_type}'", error_code=INVALID_PARAMETER_VALUE
            )
        if (key_type, key) in seen:
            raise MlflowException(f"`order_by` contains duplicate fields: {order_by}")
        seen.add((key_type, key))
        terms.append(Term(key_type, key, ascending))
    for key, ascending in TIE_BREAKERS:
        if (ATTRIBUTE, key) not in seen:
            terms.append(Term(ATTRIBUTE, key, ascending))
    return TraceOrder(tuple(terms))


# ---- page tokens -----------------------------------------------------------------------
def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _search_of(experiment_ids: list[str] | None) -> str:
    """Names the search by the experiments asked for (None: every experiment of the
    workspace), in any order; not by what they resolved to, so an experiment created or
    deleted between pages does not void the token."""
    scope = "*" if experiment_ids is None else ",".join(sorted({str(e) for e in experiment_ids}))
    return f"traces:{_digest(scope)}"


def _filter_of(filter_string: str | None) -> str:
    return _digest(filter_string) if filter_string else ""


@dataclass(frozen=True)
class PageTokens:
    """Encodes and checks the page tokens of one search (experiments, filter, order)."""

    order: TraceOrder
    experiment_ids: list[str] | None
    filter_string: str | None

    def encode(self, last: Item) -> str:
        return keyset.encode(
            _search_of(self.experiment_ids),
            self.order.fields,
            _filter_of(self.filter_string),
            self.order.raw(last),
        )

    def decode(self, page_token: str | None) -> list | None:
        """The position to resume after, or None for a first page."""
        if not page_token:
            return None
        if not keyset.is_ours(page_token):
            raise MlflowException(
                f"Invalid page token '{page_token}'", error_code=INVALID_PARAMETER_VALUE
            )
        types = {t.field: t.token_type for t in self.order.terms}
        return keyset.decode(
            page_token,
            _search_of(self.experiment_ids),
            self.order.fields,
            _filter_of(self.filter_string),
            types,
        )
