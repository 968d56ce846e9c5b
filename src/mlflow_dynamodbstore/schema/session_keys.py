"""Keys of the trace session items (docs/trace-analytics.md, "Sessions").

A session (the traces of one experiment sharing an ``mlflow.trace.session`` id) has a
partition of its own:

    EXP#<experiment>#SESS#<session id>   /   HEAD                       the session's head
    EXP#<experiment>#SESS#<session id>   /   M#<timestamp enc>#<trace>  one member per trace

The members (one small item per trace, written in the trace's stats transaction) sort by
timestamp, so a session's first and last trace are its first and last member. The head
holds the first / last trace timestamp and is listed on GSI4 by its last trace:

    EXP#<experiment>#SLAST#<30-day period of last>#<shard>   /   <last enc>#<session id>

- **period** bounds what one listing key holds (as the stats listing's);
- **shard** = ``crc32(session id) % 4``: heavy session traffic spreads over 4 index keys.

A session id too long for a key (sort keys take at most 1,024 bytes) appears in keys as
``#<sha-256>``; the head and members carry the real id (``sid``).
"""

from __future__ import annotations

import hashlib
import zlib

from mlflow_dynamodbstore.schema import indexes
from mlflow_dynamodbstore.schema.analytics_keys import STATS_SHARDS, stats_period
from mlflow_dynamodbstore.schema.encoding import encode_int
from mlflow_dynamodbstore.schema.keys import SEP, experiment_pk

HEAD_SK = "HEAD"
MEMBER_PREFIX = f"M{SEP}"
SESSION_SHARDS = STATS_SHARDS
# Longer ids are digested in keys (a listing sort key also holds the 20-byte timestamp).
_MAX_KEY_ID_BYTES = 256


def key_id(session_id: str) -> str:
    raw = session_id.encode("utf-8")
    if len(raw) <= _MAX_KEY_ID_BYTES and not session_id.startswith("#"):
        return session_id
    return "#" + hashlib.sha256(raw).hexdigest()


def session_pk(experiment_id: str, session_id: str) -> str:
    return f"{experiment_pk(experiment_id)}{SEP}SESS{SEP}{key_id(session_id)}"


def head_key(experiment_id: str, session_id: str) -> dict[str, str]:
    return {"PK": session_pk(experiment_id, session_id), "SK": HEAD_SK}


def member_sk_bound(timestamp_ms: int) -> str:
    """The sort key prefix of every member of one timestamp (for range conditions)."""
    return f"{MEMBER_PREFIX}{encode_int(int(timestamp_ms))}"


def member_key(
    experiment_id: str, session_id: str, timestamp_ms: int, trace_id: str
) -> dict[str, str]:
    return {
        "PK": session_pk(experiment_id, session_id),
        "SK": f"{member_sk_bound(timestamp_ms)}{SEP}{trace_id}",
    }


def session_shard(session_id: str) -> int:
    return zlib.crc32(session_id.encode("utf-8")) % SESSION_SHARDS


def by_last_pk(experiment_id: str, period: int, shard: int) -> str:
    return f"{experiment_pk(experiment_id)}{SEP}SLAST{SEP}{period}{SEP}{shard}"


def by_last_sk_bound(last_ms: int) -> str:
    return encode_int(int(last_ms))


def by_last_keys(experiment_id: str, session_id: str, last_ms: int) -> dict[str, str]:
    """SESSIONS_BY_LAST_TRACE (GSI4): an experiment's sessions by their last trace."""
    return indexes.SESSIONS_BY_LAST_TRACE.keys(
        by_last_pk(experiment_id, stats_period(last_ms), session_shard(session_id)),
        f"{by_last_sk_bound(last_ms)}{SEP}{key_id(session_id)}",
    )
