"""search_traces: plan the reads, filter, order and page like SqlAlchemyStore.

Two plans:

- **Listing order** (no order_by, or ``timestamp_ms DESC`` possibly followed by
  ``request_id ASC``: MLflow's default order). Each experiment's traces are read from GSI3
  forwards, already in that order, and the experiments are merged lazily on the sort key;
  reading stops once a page is full. Without a filter a page costs one Query per experiment
  (``Limit`` = max_results). A trace-name ``LIKE / ILIKE / =`` the trigram index can narrow
  reads the candidates it names instead (search/traces/indexed.py), sorted the same way;
  any other order verifies and sorts those candidates instead of every trace.
  A ``timestamp_ms`` comparison narrows the key condition. The page token is the last
  returned sort key, so the next page starts right after it.
- **Any other order**: every trace of the experiments (within the timestamp bounds) is read,
  filtered and sorted in memory; the page token is an offset. O(traces in the experiments).

Filters are evaluated in memory on the META items (search/traces_filter.py); ``span.*``
clauses on name, type and status are answered from META's span facts when it has them
(repositories/traces/span_facts.py); otherwise the spans of the traces that passed every
other clause are read. A trace with no stored span is handed to the ``missing_spans``
hook when one is given (the X-Ray search fallback, docs/xray.md).
"""

from __future__ import annotations

import base64
import functools
import heapq
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.tracing.constant import TraceMetadataKey, TraceTagKey
from mlflow.utils.search_utils import SearchTraceUtils

from mlflow_dynamodbstore.compat.trace_analytics import TRACE_ANALYTICS_COLUMNS_BY_METADATA_KEY
from mlflow_dynamodbstore.fts.lookup import TrigramIndex
from mlflow_dynamodbstore.repositories.traces import span_facts
from mlflow_dynamodbstore.repositories.traces.codec import decode_analytics
from mlflow_dynamodbstore.repositories.traces.repository import TraceRepository
from mlflow_dynamodbstore.repositories.traces.spans import SpanRepository
from mlflow_dynamodbstore.schema import indexes
from mlflow_dynamodbstore.search.traces.filter import TraceFilter, parse_trace_filter
from mlflow_dynamodbstore.search.traces.indexed import indexed_traces

Item = dict[str, Any]
OrderKey = tuple[str, str, bool]  # (type, key, ascending)


class MissingSpans(Protocol):
    """Decides span clauses for a trace whose spans are not in the table."""

    def matches(self, item: Item, parsed: TraceFilter) -> bool: ...


# ---- page tokens -----------------------------------------------------------------------
def _encode_token(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def _decode_token(token: str | None) -> dict[str, Any]:
    if not token:
        return {}
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
        if isinstance(payload, dict) and ("after" in payload or "offset" in payload):
            return payload
    except Exception:
        pass
    raise MlflowException(f"Invalid page token '{token}'", INVALID_PARAMETER_VALUE)


# ---- order_by ----------------------------------------------------------------------------
def parse_order_by(order_by: list[str] | None) -> list[OrderKey]:
    """Parse and check order_by clauses with MLflow's parser and the SQL store's errors."""
    parsed: list[OrderKey] = []
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
        parsed.append((key_type, key, ascending))
    for key, ascending in (("timestamp_ms", False), ("request_id", True)):
        if ("attribute", key) not in seen:
            parsed.append(("attribute", key, ascending))
    return parsed


def _is_listing_order(order: list[OrderKey]) -> bool:
    return order[:2] == [("attribute", "timestamp_ms", False), ("attribute", "request_id", True)]


def _order_value(item: Item, key_type: str, key: str) -> Any:
    if key_type == "attribute":
        if key == "request_id":
            return item["trace_id"]
        if key == "experiment_id":
            return int(item["experiment_id"])
        if key == "end_time_ms":
            return int(item["timestamp_ms"]) + int(item.get("execution_time_ms") or 0)
        value = item.get(key)
        return (
            int(value)
            if key in ("timestamp_ms", "execution_time_ms") and value is not None
            else value
        )
    if key_type == "tag":
        if key == TraceTagKey.TRACE_NAME:
            return item.get("trace_name")
        return (item.get("tags") or {}).get(key)
    if key == TraceMetadataKey.TRACE_SESSION:
        return decode_analytics(item.get("analytics"))["session_id"]
    return (item.get("metadata") or {}).get(key)


def _sorter(order: list[OrderKey]) -> Callable[[Item, Item], int]:
    def cmp(a: Item, b: Item) -> int:
        for key_type, key, ascending in order:
            va, vb = _order_value(a, key_type, key), _order_value(b, key_type, key)
            if va is None or vb is None:
                # NULLs last in either direction, as the SQL store orders them.
                if va is None and vb is None:
                    continue
                return 1 if va is None else -1
            if va != vb:
                result = -1 if va < vb else 1
                return result if ascending else -result
        return 0

    return cmp


# ---- execution ---------------------------------------------------------------------------
class TraceSearch:
    def __init__(
        self,
        traces: TraceRepository,
        spans: SpanRepository,
        missing_spans: MissingSpans | None = None,
        fts: TrigramIndex | None = None,
        workspace: str | None = None,
    ):
        self.traces = traces
        self.spans = spans
        self.missing_spans = missing_spans
        self.fts = fts
        self.workspace = workspace

    def _matches(self, item: Item, parsed: TraceFilter) -> bool:
        if not parsed.matches_trace(item):
            return False
        if not parsed.span_predicates:
            return True
        if not parsed.span_needs_content and (facts := span_facts.rows_from_facts(item)):
            return parsed.matches_spans(facts)
        rows = self.spans.read(item["trace_id"])
        if not rows and self.missing_spans is not None:
            return self.missing_spans.matches(item, parsed)
        return parsed.matches_spans(rows)

    def _streams(
        self, experiment_ids: list[str], parsed: TraceFilter, after: str | None, page: int | None
    ) -> list[Iterator[Item]]:
        return [
            self.traces.list_experiment(
                e, newest=parsed.newest, oldest=parsed.oldest, after=after, page_size=page
            )
            for e in experiment_ids
        ]

    def search(
        self,
        experiment_ids: list[str],
        filter_string: str | None,
        max_results: int,
        order_by: list[str] | None,
        page_token: str | None,
    ) -> tuple[list[Item], str | None]:
        order = parse_order_by(order_by)
        parsed = parse_trace_filter(filter_string)
        token = _decode_token(page_token)
        if not experiment_ids:
            return [], None
        named = indexed_traces(self.traces, self.fts, self.workspace, experiment_ids, parsed)
        if _is_listing_order(order) and "offset" not in token:
            after = token.get("after")
            if named is not None:
                sort_key = indexes.TRACES_BY_TIMESTAMP.sort_key
                ordered = sorted(
                    (i for i in named if after is None or sort_key(i) > after), key=sort_key
                )
                return self._page_in_listing_order(ordered, parsed, max_results)
            return self._search_listing(experiment_ids, parsed, max_results, after)
        if named is not None:
            return self._page_sorted(named, parsed, max_results, order, token)
        return self._search_sorted(experiment_ids, parsed, max_results, order, token)

    def _search_listing(
        self, experiment_ids: list[str], parsed: TraceFilter, max_results: int, after: str | None
    ) -> tuple[list[Item], str | None]:
        page = max_results if parsed.empty else None
        merged = heapq.merge(
            *self._streams(experiment_ids, parsed, after, page),
            key=indexes.TRACES_BY_TIMESTAMP.sort_key,
        )
        return self._page_in_listing_order(merged, parsed, max_results)

    def _page_in_listing_order(
        self, merged: Iterable[Item], parsed: TraceFilter, max_results: int
    ) -> tuple[list[Item], str | None]:
        found: list[Item] = []
        for item in merged:
            if self._matches(item, parsed):
                found.append(item)
                if len(found) == max_results:
                    break
        token = None
        if len(found) == max_results:
            token = _encode_token({"after": indexes.TRACES_BY_TIMESTAMP.sort_key(found[-1])})
        return found, token

    def _search_sorted(
        self,
        experiment_ids: list[str],
        parsed: TraceFilter,
        max_results: int,
        order: list[OrderKey],
        token: dict[str, Any],
    ) -> tuple[list[Item], str | None]:
        items = (i for s in self._streams(experiment_ids, parsed, None, None) for i in s)
        return self._page_sorted(items, parsed, max_results, order, token)

    def _page_sorted(
        self,
        items: Iterable[Item],
        parsed: TraceFilter,
        max_results: int,
        order: list[OrderKey],
        token: dict[str, Any],
    ) -> tuple[list[Item], str | None]:
        offset = int(token.get("offset", 0))
        candidates = [item for item in items if parsed.matches_trace(item)]
        candidates.sort(key=functools.cmp_to_key(_sorter(order)))
        if parsed.span_predicates:
            candidates = [i for i in candidates if self._matches(i, parsed)]
        found = candidates[offset : offset + max_results]
        next_token = (
            _encode_token({"offset": offset + max_results}) if len(found) == max_results else None
        )
        return found, next_token
