"""The index walks that page search_traces by keyset in the orders an index holds.

- ``timestamp_ms`` first, either direction: GSI3 (TRACES_BY_TIMESTAMP) read forwards
  (newest first) or backwards (oldest first), timestamp bounds of the filter and the page
  token's position in the key condition;
- ``execution_time_ms`` first, either direction: TRACES_BY_EXECUTION_TIME (GSI2) read
  forwards or backwards from the token's value, then the traces without one (NULLs last,
  as the SQL store), once the table has those keys everywhere (repositories/traces/
  listings.py ``READINESS``).

Each experiment is one stream; the streams are merged on the first sort value, and entries
equal in it (a group: ties of the timestamp or execution time) are filtered and sorted by the
whole order in memory before any is returned (search/registry/keyset.py ``grouped_walk``).
So a page reads what it returns, the rest of its last group, and the start of the token's
group again. Traces without an execution time are one group, unless the order continues
with the SQL store's tie-breakers (timestamp_ms DESC, request_id ASC), which is their key
order: then each is its own.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.repositories.traces import listings
from mlflow_dynamodbstore.repositories.traces.repository import TraceRepository
from mlflow_dynamodbstore.schema import indexes
from mlflow_dynamodbstore.search.registry import keyset
from mlflow_dynamodbstore.search.traces.filter import TraceFilter
from mlflow_dynamodbstore.search.traces.order import ATTRIBUTE, TIE_BREAKERS, TraceOrder

Item = dict[str, Any]


@dataclass
class Walk:
    """Per-experiment streams in the order's direction and how to merge and group them."""

    streams: list[Iterator[Item]]
    merge_key: Callable[[Item], Any]  # increasing along every stream
    group: Callable[[Item], Any]  # the first sort value (ties share it)

    def rows(
        self, rows_of: Callable[[list[Item]], list[Item]], key: Callable[[Item], tuple], want: int
    ) -> list[Item]:
        merged = heapq.merge(*self.streams, key=self.merge_key)
        return keyset.grouped_walk(([i] for i in merged), self.group, rows_of, key, None, want)


def _first_is(order: TraceOrder, key: str) -> bool:
    return order.first.key_type == ATTRIBUTE and order.first.key == key


def timestamp_walk(
    traces: TraceRepository,
    experiment_ids: list[str],
    order: TraceOrder,
    parsed: TraceFilter,
    after: list | None,
    page_size: int | None,
) -> Walk | None:
    if not _first_is(order, "timestamp_ms"):
        return None
    ascending = order.first.ascending
    newest, oldest = parsed.newest, parsed.oldest
    if after is not None:  # from the token's timestamp on (its ties are read again)
        if ascending:
            oldest = after[0] if oldest is None else max(oldest, after[0])
        else:
            newest = after[0] if newest is None else min(newest, after[0])
    streams = [
        traces.list_experiment(
            e, newest=newest, oldest=oldest, page_size=page_size, oldest_first=ascending
        )
        for e in experiment_ids
    ]
    sign = 1 if ascending else -1
    return Walk(
        streams,
        merge_key=lambda i: sign * int(i["timestamp_ms"]),
        group=lambda i: int(i["timestamp_ms"]),
    )


def execution_time_walk(
    gateway: TableGateway,
    experiment_ids: list[str],
    order: TraceOrder,
    after: list | None,
    page_size: int | None,
) -> Walk | None:
    if not _first_is(order, "execution_time_ms") or not listings.READINESS.is_ready(gateway):
        return None
    descending = not order.first.ascending
    # NULLs in key order (timestamp DESC, trace id ASC) when the order breaks their ties so.
    first = ("execution_time_ms", order.first.ascending)
    nulls_in_key_order = order.starts_with(first, *TIE_BREAKERS)
    start = nulls_only = nulls_newest = None
    if after is not None:
        start = after[0]
        nulls_only = after[0] is None
        if nulls_only and nulls_in_key_order:
            nulls_newest = after[1]
    streams = [
        listings.by_execution_time(
            gateway,
            e,
            descending=descending,
            start=start,
            nulls_only=bool(nulls_only),
            nulls_newest=nulls_newest,
            page_size=page_size,
        )
        for e in experiment_ids
    ]
    sort_key = indexes.TRACES_BY_EXECUTION_TIME.sort_key
    sign = -1 if descending else 1

    def merge_key(item: Item) -> tuple:
        value = item.get("execution_time_ms")
        return (1, sort_key(item)) if value is None else (0, sign * int(value))

    def group(item: Item) -> Any:
        value = item.get("execution_time_ms")
        if value is not None:
            return int(value)
        return ("null", sort_key(item) if nulls_in_key_order else None)

    return Walk(streams, merge_key, group)
