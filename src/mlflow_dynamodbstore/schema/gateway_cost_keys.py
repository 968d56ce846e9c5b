"""Keys of the gateway trace cost items (``sum_gateway_trace_cost``, docs/ai-gateway.md).

A trace served by an AI gateway endpoint (its metadata holds ``mlflow.gateway.endpointId``)
gets a small *cost* item in its own partition (``TRACE#<id>`` / ``GWCOST``), so every path
that deletes the trace partition (trace deletion, workspace cascade, TTL) deletes it too. It
is listed on GSI4 under ``GWCOST#<period>#<shard>`` (every workspace's gateway traces: a
budget policy may span workspaces) with the sort key ``<timestamp_ms enc>#<trace_id>``; a
sum reads the periods its time range covers, every shard, with a sort-key range. Periods
bound what one listing key holds; shards spread the gateway's trace writes over several
index keys (no hot key).
"""

from __future__ import annotations

import zlib

from mlflow_dynamodbstore.schema import indexes
from mlflow_dynamodbstore.schema.encoding import encode_int
from mlflow_dynamodbstore.schema.keys import SEP, trace_pk

GATEWAY_COST_SK = "GWCOST"
# 30 days per listing period: a month-long budget window reads at most two periods per shard.
COST_PERIOD_MS = 30 * 24 * 3600 * 1000
COST_SHARDS = 4


def gateway_cost_key(trace_id: str) -> dict[str, str]:
    return {"PK": trace_pk(trace_id), "SK": GATEWAY_COST_SK}


def cost_period(timestamp_ms: int) -> int:
    return int(timestamp_ms) // COST_PERIOD_MS


def cost_shard(trace_id: str) -> int:
    return zlib.crc32(trace_id.encode()) % COST_SHARDS


def gateway_cost_list_pk(period: int, shard: int) -> str:
    return f"GWCOST{SEP}{period}{SEP}{shard}"


def gateway_cost_sk_bound(timestamp_ms: int) -> str:
    """The sort key prefix of every trace of one timestamp (for range conditions)."""
    return encode_int(int(timestamp_ms))


def gateway_cost_list_keys(timestamp_ms: int, trace_id: str) -> dict[str, str]:
    """GATEWAY_TRACE_COSTS_BY_TIME (GSI4): gateway traces' cost items by period and shard,
    oldest first inside one key."""
    return indexes.GATEWAY_TRACE_COSTS_BY_TIME.keys(
        gateway_cost_list_pk(cost_period(timestamp_ms), cost_shard(trace_id)),
        f"{gateway_cost_sk_bound(timestamp_ms)}{SEP}{trace_id}",
    )
