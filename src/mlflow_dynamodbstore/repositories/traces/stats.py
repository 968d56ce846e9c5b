"""Trace stats items: the few numbers and labels of a trace that the analytics charts
aggregate (docs/trace-analytics.md), kept beside the trace's META item.

The item is a projection of META (timestamp, latency, status, name, the session/token/cost
columns), rewritten after every META write that changes it. Each carries the META
``version`` it was projected from and is written only over an older one, so two servers
writing one trace can finish in any order and the newest projection stays. Each write moves
the rollup cells in the same transaction (``rollups.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.repositories.traces import cost_rollups, view_rollups
from mlflow_dynamodbstore.repositories.traces.gateway_cost import GatewayCostRepository
from mlflow_dynamodbstore.repositories.traces.rollups import (
    MARKER,
    TraceRollupRepository,
    contribution,
)
from mlflow_dynamodbstore.schema import analytics_keys, indexes

Item = dict[str, Any]

# META attributes the stats item copies (``analytics`` holds session id, tokens and costs).
STATS_FIELDS = (
    "trace_id",
    "experiment_id",
    "workspace",
    "timestamp_ms",
    "execution_time_ms",
    "status",
    "trace_name",
    "analytics",
    "ttl",
)


def projection(meta: Item) -> Item:
    fields = {f: meta[f] for f in STATS_FIELDS if meta.get(f) is not None}
    # The SPANS / ASSESSMENTS views' summary, counted in their rollup cells, and the span
    # costs' (cost_rollups.py), sized to fit one transaction together.
    views = view_rollups.projection(meta)
    return {**fields, **views, **cost_rollups.projection(meta, views)}


def stats_item(meta: Item) -> Item:
    fields = projection(meta)
    return {
        **fields,
        **analytics_keys.trace_stats_key(meta["trace_id"]),
        **analytics_keys.trace_stats_list_keys(
            str(meta["experiment_id"]), int(meta["timestamp_ms"]), meta["trace_id"]
        ),
        "version": int(meta["version"]),
    }


class TraceStatsRepository:
    def __init__(self, gateway: TableGateway):
        self.gateway = gateway
        # The other projection of META kept the same way: gateway traces' cost items.
        self.gateway_costs = GatewayCostRepository(gateway)
        # The rollup cells move with every stats write, in the same transaction.
        self.rollups = TraceRollupRepository(gateway)

    def written(self, before: Item | None, after: Item) -> None:
        """Keep the stats item (and, for a gateway trace, its cost item) in step with a META
        item just written (``before``: the META it replaced, None for a new trace)."""
        self.gateway_costs.written(before, after)
        if before is not None and projection(before) == projection(after):
            return
        # Believed stored: the projection of ``before`` (counted), none for a new trace.
        believed = None if before is None else stats_item(before)
        if believed is not None:
            believed[MARKER] = contribution(believed).marker
            believed.update(view_rollups.markers(believed))
            believed.update(cost_rollups.markers(believed))
        self.rollups.write_stats(stats_item(after), believed, known=True)

    def put(self, meta: Item) -> bool:
        """Write the projections of ``meta`` unless newer ones are there (and count a stats
        item written before rollups existed); True if the stats item was written."""
        self.gateway_costs.put(meta)
        return self.rollups.write_stats(stats_item(meta), None, known=False)

    def list_range(
        self, experiment_id: str, period: int, shard: int, start_ms: int | None, end_ms: int | None
    ) -> Iterator[Item]:
        """The stats items of one (period, shard) listing key with start <= timestamp <= end."""
        lower = analytics_keys.trace_stats_list_sk_bound(start_ms) if start_ms is not None else None
        upper = (
            analytics_keys.trace_stats_list_sk_bound(end_ms) + "$" if end_ms is not None else None
        )
        listing = indexes.TRACE_STATS_BY_TIME
        condition = listing.key_condition(
            analytics_keys.trace_stats_list_pk(experiment_id, period, shard),
            lower=lower,
            upper=upper,
        )
        return self.gateway.query(condition, index=listing.index)
