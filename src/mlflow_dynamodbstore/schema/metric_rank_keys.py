"""Keys of the metric rank entries (RUNS_BY_METRIC, GSI2) sharded over several partition
keys, and of a run's LIVE item (its latest metric values between META writes).

Every run of an experiment logging a metric updates that metric's rank entry (its LATEST
item) on every step. Under one GSI2 partition key per (experiment, metric) a sweep of a
thousand runs at 2 Hz sends 2,000 index writes a second to one key, beyond what a DynamoDB
partition serves (~1,000 write units/s). So the entries are spread over ``RANK_SHARDS``
keys, ``EXP#<exp>#MS<nn>#<key>``, the shard chosen by a hash of the run id (fixed for the
run, so an update moves its entry within one partition only); a search ordered by a metric
reads every shard and merges them by value (the sort key is unchanged).

Rank entries written before sharding live under ``EXP#<exp>#M#<key>`` (``keys.metric_rank_pk``):
an update of such an item moves it to its shard. An experiment created with sharded ranks
says so on its META (``SHARDED_RANKS_ATTRIBUTE``), and searches skip the old key there; for
older experiments they read it as one more shard.

The LIVE item (``RUN#<run>``, ``LIVE``) holds the latest entries a training step logged
without rewriting META (META is projected into GSI1, the experiment's run listing, so each
META write is a write to ``EXP#<exp>#RUNS``). It carries no index key.
"""

from __future__ import annotations

import hashlib

from mlflow_dynamodbstore.schema import indexes
from mlflow_dynamodbstore.schema.keys import (
    SEP,
    experiment_pk,
    metric_rank_keys,
    metric_rank_pk,
    run_pk,
)

RANK_SHARDS = 8
# On an experiment's META: its runs' rank entries were all written sharded (the value is
# the shard count), so no search needs the unsharded key.
SHARDED_RANKS_ATTRIBUTE = "metric_rank_shards"
LIVE_SK = "LIVE"


def rank_shard(run_id: str) -> int:
    """The shard of a run's rank entries (every metric of the run uses the same one)."""
    return int(hashlib.sha256(run_id.encode("utf-8")).hexdigest()[:8], 16) % RANK_SHARDS


def sharded_rank_pk(experiment_id: str, key: str, shard: int) -> str:
    return f"{experiment_pk(experiment_id)}{SEP}MS{shard:02d}{SEP}{key}"


def sharded_rank_keys(experiment_id: str, key: str, value: float, run_id: str) -> dict[str, str]:
    """RUNS_BY_METRIC keys of a LATEST item: its shard's partition key, and the value-ordered
    sort key of the unsharded layout."""
    sort_key = indexes.RUNS_BY_METRIC.sort_key(metric_rank_keys(experiment_id, key, value, run_id))
    return indexes.RUNS_BY_METRIC.keys(
        sharded_rank_pk(experiment_id, key, rank_shard(run_id)), sort_key
    )


def rank_pks(experiment_id: str, key: str, *, sharded_only: bool) -> list[str]:
    """Every partition key holding an experiment's rank entries of one metric: the shards,
    and the unsharded key unless the experiment was created sharded."""
    found = [sharded_rank_pk(experiment_id, key, s) for s in range(RANK_SHARDS)]
    return found if sharded_only else [*found, metric_rank_pk(experiment_id, key)]


def live_key(run_id: str) -> dict[str, str]:
    return {"PK": run_pk(run_id), "SK": LIVE_SK}
