"""Gateway trace cost items: for each trace served by an AI gateway endpoint, the numbers
``sum_gateway_trace_cost`` adds up (timestamp, workspace, endpoint, auth username, total
cost), kept beside the trace's META item and listed by time (schema/gateway_cost_keys.py).

The item is a projection of META, rewritten (or deleted, when the trace stops being a
gateway trace) after every META write that changes it. Like the stats item it carries the
META ``version`` it was projected from and is written only over an older one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from typing import Any

from boto3.dynamodb.conditions import Attr
from mlflow.tracing.constant import TraceMetadataKey

from mlflow_dynamodbstore.gateway import ConditionFailed
from mlflow_dynamodbstore.repositories.traces.codec import decode_analytics
from mlflow_dynamodbstore.schema import gateway_cost_keys as gk
from mlflow_dynamodbstore.schema import indexes

Item = dict[str, Any]


def projection(meta: Item) -> Item | None:
    """What the sum needs of a trace; None for a trace no gateway endpoint served."""
    metadata = meta.get("metadata") or {}
    endpoint_id = metadata.get(TraceMetadataKey.GATEWAY_ENDPOINT_ID)
    if endpoint_id is None:
        return None
    cost = decode_analytics(meta.get("analytics")).get("total_cost")
    fields = {
        "trace_id": meta["trace_id"],
        "workspace": meta.get("workspace"),
        "timestamp_ms": int(meta["timestamp_ms"]),
        "endpoint_id": endpoint_id,
        "username": metadata.get(TraceMetadataKey.AUTH_USERNAME),
        # text, as the analytics columns keep it: a float round-trips exactly
        "total_cost": None if cost is None else repr(float(cost)),
        "ttl": meta.get("ttl"),
    }
    return {k: v for k, v in fields.items() if v is not None}


def _older_than(meta: Item) -> Any:
    version = Attr("version")
    return version.not_exists() | version.lt(int(meta["version"]))


class GatewayCostRepository:
    def __init__(self, gateway):
        self.gateway = gateway

    def written(self, before: Item | None, after: Item) -> None:
        old = projection(before) if before is not None else None
        new = projection(after)
        if old == new:
            return
        if new is None:  # no longer a gateway trace
            key = gk.gateway_cost_key(after["trace_id"])
            with suppress(ConditionFailed):
                self.gateway.delete_item(key, condition=_older_than(after))
            return
        self.put(after)

    def put(self, meta: Item) -> bool:
        """Write the projection of ``meta`` unless a newer one is there (nothing for a
        trace no gateway endpoint served); True if written."""
        fields = projection(meta)
        if fields is None:
            return False
        item = {
            **fields,
            **gk.gateway_cost_key(meta["trace_id"]),
            **gk.gateway_cost_list_keys(fields["timestamp_ms"], fields["trace_id"]),
            "version": int(meta["version"]),
        }
        try:
            self.gateway.put_item(item, condition=_older_than(meta))
        except ConditionFailed:
            return False  # a newer META version's projection is already stored
        return True

    def list_range(self, start_ms: int, end_ms: int) -> Iterator[Item]:
        """Every workspace's gateway cost items with start <= timestamp < end (the gateway
        given must be unscoped: a budget may span workspaces)."""
        if end_ms <= start_ms:
            return
        listing = indexes.GATEWAY_TRACE_COSTS_BY_TIME
        lower = gk.gateway_cost_sk_bound(start_ms)
        upper = gk.gateway_cost_sk_bound(end_ms - 1) + "$"  # '$' sorts after '#<trace id>'
        for period in range(gk.cost_period(start_ms), gk.cost_period(end_ms - 1) + 1):
            for shard in range(gk.COST_SHARDS):
                condition = listing.key_condition(
                    gk.gateway_cost_list_pk(period, shard), lower=lower, upper=upper
                )
                yield from self.gateway.query(condition, index=listing.index)
