"""Keys of the trace rollup cells (docs/trace-analytics.md, "Rollups").

A cell pre-aggregates one hour of one experiment's traces for one (status, trace name) and
one write shard. Cells are base-table items (strongly consistent reads, no GSI), under

    EXP#<experiment>#ROLLUP#<period>#<shard>   /   <hour_ms enc>#<status>#<name>

- **period** = the stats listing's 30-day period: one partition holds at most 30 days of one
  shard (720 hours x the experiment's (status, name) pairs), so nothing grows without bound.
- **shard** = the trace's stats shard (``crc32(trace_id) % 4``): the writes of an
  experiment's traces spread over 4 partition keys (and 4 items per cell), so heavy trace
  traffic has no hot key; a read sums the shards.
"""

from __future__ import annotations

import hashlib
from typing import Any

from mlflow_dynamodbstore.schema.analytics_keys import STATS_SHARDS, stats_period, stats_shard
from mlflow_dynamodbstore.schema.encoding import decode_int, encode_int
from mlflow_dynamodbstore.schema.keys import SEP, experiment_pk

# One cell per hour: every time bucket that is a whole number of hours (the UI's hour, day,
# 30-day "month" and 365-day "year") is a union of cells.
ROLLUP_BUCKET_MS = 3600 * 1000
ROLLUP_SHARDS = STATS_SHARDS
# A trace without a name (the SQL column is NULL) has this in the sort key, never a name:
# names are written behind a "=" (docs/trace-analytics.md).
_NO_NAME = "-"
# DynamoDB refuses sort keys over 1,024 bytes: a longer name is written as "#<sha-256>" and
# its cell carries the name itself in this attribute.
_MAX_NAME_BYTES = 512
DIGESTED_NAME_ATTR = "tn"


def rollup_hour(timestamp_ms: int) -> int:
    return (int(timestamp_ms) // ROLLUP_BUCKET_MS) * ROLLUP_BUCKET_MS


def rollup_shard(trace_id: str) -> int:
    return stats_shard(trace_id)


def rollup_pk(experiment_id: str, period: int, shard: int) -> str:
    return f"{experiment_pk(experiment_id)}{SEP}ROLLUP{SEP}{period}{SEP}{shard}"


def rollup_sk_bound(hour_ms: int) -> str:
    """The sort key prefix of every cell of one hour (for range conditions)."""
    return encode_int(int(hour_ms))


def rollup_cell_key(
    experiment_id: str, hour_ms: int, shard: int, status: str | None, name: str | None
) -> dict[str, str]:
    return {
        "PK": rollup_pk(experiment_id, stats_period(hour_ms), shard),
        "SK": f"{rollup_sk_bound(hour_ms)}{SEP}{status or ''}{SEP}{_label(name)}",
    }


def name_is_digested(name: str | None) -> bool:
    return name is not None and len(name.encode("utf-8")) > _MAX_NAME_BYTES


def _label(name: str | None) -> str:
    if name is None:
        return _NO_NAME
    if name_is_digested(name):
        return "#" + hashlib.sha256(name.encode("utf-8")).hexdigest()
    return f"={name}"


def parse_rollup_cell(cell: dict[str, Any]) -> tuple[int, str | None, str | None]:
    """(hour_ms, status, trace name) of a cell: from its sort key (cells keep no copies of
    them), but for a digested long name, which the cell carries."""
    hour, status, label = cell["SK"].split(SEP, 2)
    if label == _NO_NAME:
        name = None
    elif label.startswith("#"):
        name = cell[DIGESTED_NAME_ATTR]
    else:
        name = label[1:]
    return decode_int(hour), status or None, name
