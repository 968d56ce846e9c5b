"""Keys of the trace analytics items (docs/trace-analytics.md).

A trace's *stats* item lives in the trace's own partition (``TRACE#<id>`` / ``STATS``), so
every path that deletes the trace partition (trace deletion, workspace cascade, TTL)
deletes it too. It is listed on GSI4 under ``EXP#<exp>#TSTATS#<period>#<shard>`` with the
sort key ``<timestamp_ms enc>#<trace_id>``: a chart reads the periods its time range
covers, every shard, with a sort-key range. Periods bound how much one listing key holds;
shards spread an experiment's trace writes over several index keys (no hot key).
"""

from __future__ import annotations

import zlib

from mlflow_dynamodbstore.schema import indexes
from mlflow_dynamodbstore.schema.encoding import encode_int
from mlflow_dynamodbstore.schema.keys import CONFIG_PK, SEP, experiment_pk, trace_pk

TRACE_STATS_SK = "STATS"
# 30 days per listing period: a month-long chart reads at most two periods per shard.
STATS_PERIOD_MS = 30 * 24 * 3600 * 1000
# Index keys per experiment and period: ~4x the write rate one index key takes.
STATS_SHARDS = 4


def trace_stats_key(trace_id: str) -> dict[str, str]:
    return {"PK": trace_pk(trace_id), "SK": TRACE_STATS_SK}


def stats_period(timestamp_ms: int) -> int:
    return int(timestamp_ms) // STATS_PERIOD_MS


def stats_shard(trace_id: str) -> int:
    return zlib.crc32(trace_id.encode()) % STATS_SHARDS


def trace_stats_list_pk(experiment_id: str, period: int, shard: int) -> str:
    return f"{experiment_pk(experiment_id)}{SEP}TSTATS{SEP}{period}{SEP}{shard}"


def trace_stats_list_sk_bound(timestamp_ms: int) -> str:
    """The sort key prefix of every trace of one timestamp (for range conditions)."""
    return encode_int(int(timestamp_ms))


def trace_stats_list_keys(experiment_id: str, timestamp_ms: int, trace_id: str) -> dict[str, str]:
    """TRACE_STATS_BY_TIME (GSI4): an experiment's trace stats by period and shard, oldest
    first inside one key."""
    return indexes.TRACE_STATS_BY_TIME.keys(
        trace_stats_list_pk(experiment_id, stats_period(timestamp_ms), stats_shard(trace_id)),
        f"{trace_stats_list_sk_bound(timestamp_ms)}{SEP}{trace_id}",
    )


def trace_stats_backfill_key() -> dict[str, str]:
    """The record of the trace stats backfill job (its cursor, while it runs)."""
    return {"PK": CONFIG_PK, "SK": f"JOB{SEP}TRACE_STATS_BACKFILL"}
