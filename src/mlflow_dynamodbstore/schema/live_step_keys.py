"""Keys of option D's training step (issue #20): a stepping key's rank entry, the per-key
point buffers of a run's LIVE item, and the blocks those buffers are flushed into.

While a run steps a metric key through its LIVE item, the key's LATEST item leaves the
value order of its rank shard: its GSI2 sort key becomes ``~S#<run_id>`` in the same shard
partition (``EXP#<exp>#MS<nn>#<key>``). ``~`` sorts after every value key (hex digits) and
after the NaN prefix, so value-range and NaN-prefix Queries never see these entries; a
search ordered by the metric reads the ``~S#`` range of each shard to learn which runs hold
their current value in LIVE (repositories/runs/stepping.py).

A LIVE item buffers each key's points in a top-level list ``P#<key>``; a full buffer is
flushed into one block per key, ``ML#<flush seq>#<digest>`` in the key's history
partition. The sequence in the name lets a history reader that Queried the partition
before a flush find the blocks it missed (LIVE's ``flush_seq`` is past the newest one it
saw).
"""

from __future__ import annotations

from mlflow_dynamodbstore.schema import indexes
from mlflow_dynamodbstore.schema.keys import SEP, metric_history_pk
from mlflow_dynamodbstore.schema.metric_rank_keys import rank_shard, sharded_rank_pk

STEPPING_SK_PREFIX = f"~S{SEP}"
LIVE_BUFFER_PREFIX = f"P{SEP}"
LIVE_FLUSHED_PREFIX = f"ML{SEP}"
_SEQ_DIGITS = 12


def stepping_rank_keys(experiment_id: str, key: str, run_id: str) -> dict[str, str]:
    """RUNS_BY_METRIC keys of a LATEST item whose run steps ``key`` through LIVE."""
    return indexes.RUNS_BY_METRIC.keys(
        sharded_rank_pk(experiment_id, key, rank_shard(run_id)), f"{STEPPING_SK_PREFIX}{run_id}"
    )


def live_buffer_attribute(key: str) -> str:
    """The LIVE attribute holding ``key``'s buffered points."""
    return f"{LIVE_BUFFER_PREFIX}{key}"


def buffer_key_of(attribute: str) -> str | None:
    """The metric key of a LIVE buffer attribute (None for any other attribute)."""
    if attribute.startswith(LIVE_BUFFER_PREFIX):
        return attribute[len(LIVE_BUFFER_PREFIX) :]
    return None


def live_flushed_sk_prefix(seq: int) -> str:
    return f"{LIVE_FLUSHED_PREFIX}{seq:0{_SEQ_DIGITS}d}{SEP}"


def live_flushed_block_key(run_id: str, key: str, seq: int, digest: str) -> dict[str, str]:
    """A block of ``key``'s points flushed out of LIVE by its flush number ``seq``."""
    return {"PK": metric_history_pk(run_id, key), "SK": f"{live_flushed_sk_prefix(seq)}{digest}"}


def flushed_seq(sk: str) -> int | None:
    """The flush number of a LIVE-flushed block's sort key (None for other items)."""
    if not sk.startswith(LIVE_FLUSHED_PREFIX):
        return None
    return int(sk[len(LIVE_FLUSHED_PREFIX) :].split(SEP, 1)[0])


def live_flushed_after(seq: int) -> tuple[str, str]:
    """(lower, upper) sort keys of the LIVE-flushed blocks with a flush number > ``seq``."""
    return live_flushed_sk_prefix(seq + 1), f"{LIVE_FLUSHED_PREFIX}~"
