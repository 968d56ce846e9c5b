"""An experiment's traces by execution time (TRACES_BY_EXECUTION_TIME, GSI2; keys in
schema/trace_order_keys.py), for search_traces' keyset pages, and whether a table's traces
all carry those keys (a marker item, as the registry's ordered listings: ``READINESS``);
likewise whether every unnamed trace is on TRACES_WITHOUT_NAME (schema/
trace_name_order_keys.py: ``NAMELESS_READINESS``), which the name order needs."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from typing import Any

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.repositories.registry.order_state import OrderReadiness
from mlflow_dynamodbstore.schema import indexes, trace_name_order_keys, trace_order_keys

Item = dict[str, Any]

# A table created with this version writes the keys with every trace; an older one once
# `traces backfill-order` finished. Until then searches read the traces' timestamp listing.
READINESS = OrderReadiness(trace_order_keys.ready_key)
# The same for the unnamed traces' listing (name order's NULLs); tables that ran an earlier
# `traces backfill-order` are ready for the first and not for this one until it runs again.
NAMELESS_READINESS = OrderReadiness(trace_name_order_keys.ready_key)


def mark_new_table_ready(gateway: TableGateway) -> None:
    gateway.put_item({**trace_order_keys.ready_key(), "complete": True})
    gateway.put_item({**trace_name_order_keys.ready_key(), "complete": True})


def by_execution_time(
    gateway: TableGateway,
    experiment_id: str,
    *,
    descending: bool,
    start: int | None = None,
    nulls_only: bool = False,
    nulls_newest: int | None = None,
    page_size: int | None = None,
) -> Iterator[Item]:
    """The experiment's trace META items with an execution time, ascending or descending
    from the group of ``start`` (inclusive), then those without one, newest first from
    ``nulls_newest`` (inclusive). Lazy: the second Query is made only once the first
    listing is read to its end."""
    listing = indexes.TRACES_BY_EXECUTION_TIME
    pk = trace_order_keys.by_execution_time_pk(experiment_id)

    def values() -> Iterator[Item]:
        lower, upper = trace_order_keys.values_range(start, descending)
        condition = listing.key_condition(pk, lower=lower, upper=upper)
        yield from gateway.query(
            condition, index=listing.index, forward=not descending, limit=page_size
        )

    def nulls() -> Iterator[Item]:
        lower, upper = trace_order_keys.nulls_range(nulls_newest)
        condition = listing.key_condition(pk, lower=lower, upper=upper)
        yield from gateway.query(condition, index=listing.index, limit=page_size)

    return nulls() if nulls_only else chain(values(), nulls())
