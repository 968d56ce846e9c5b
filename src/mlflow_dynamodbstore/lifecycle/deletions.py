"""The deletion index: one marker item per soft delete of a run or an experiment.

A marker is written in the same request as the delete (a TransactWriteItems with the
owner's update), so deleting stays O(1). It carries what cleanup needs even after DynamoDB
TTL removed the owner's META: the owner id, its workspace, the deletion time, and what
leads to its other items (a run's metric keys, an experiment's name for its name guard).
The owner's workspace is ``owner_workspace``, not ``workspace``: a marker is the table's
index entry, not a workspace's item (a workspace deletion leaves it, and cleanup then finds
the owner gone and drops it). Restoring does not touch markers: cleanup drops a marker
whose owner was restored or deleted again later (the later delete has its own marker).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

from boto3.dynamodb.conditions import Key

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.schema import lifecycle_keys, table

Item = dict[str, Any]

# A marker stays far below DynamoDB's 400 KB item limit; a run with more metric-key text
# than this (unheard of: META holds the keys too) records none, and cleanup then reads them
# from META while it still exists.
_MAX_KEYS_BYTES = 200_000


def run_marker(
    run_id: str,
    workspace: str,
    deleted_ms: int,
    metric_keys: Iterable[str],
    experiment_id: str | None = None,
    run_name: str | None = None,
) -> Item:
    """``experiment_id`` and ``run_name`` lead to the run's trigram postings (fts/)."""
    names = sorted(metric_keys)
    complete = sum(len(k.encode()) for k in names) <= _MAX_KEYS_BYTES
    extra = {"experiment_id": experiment_id} if experiment_id is not None else {}
    if run_name is not None and len(run_name.encode()) <= _MAX_KEYS_BYTES:
        extra["run_name"] = run_name
    return {
        **extra,
        **lifecycle_keys.deletion_marker_key(lifecycle_keys.KIND_RUN, run_id, deleted_ms),
        "kind": lifecycle_keys.KIND_RUN,
        "owner_id": run_id,
        "owner_workspace": workspace,
        "deleted_time": deleted_ms,
        "metric_keys": names if complete else [],
        "metric_keys_complete": complete,
    }


def experiment_marker(experiment_id: str, workspace: str, deleted_ms: int, name: str) -> Item:
    return {
        **lifecycle_keys.deletion_marker_key(
            lifecycle_keys.KIND_EXPERIMENT, experiment_id, deleted_ms
        ),
        "kind": lifecycle_keys.KIND_EXPERIMENT,
        "owner_id": experiment_id,
        "owner_workspace": workspace,
        "deleted_time": deleted_ms,
        "name": name,
    }


class DeletionIndex:
    """Reads the markers of one day (one strongly consistent Query per shard and page)."""

    def __init__(self, gateway: TableGateway):
        self.gateway = gateway

    def markers(self, day: date) -> Iterator[Item]:
        for shard in range(lifecycle_keys.DELETION_SHARDS):
            pk = lifecycle_keys.deletions_pk(day, shard)
            yield from self.gateway.query(Key(table.PK).eq(pk), consistent=True)

    def drop(self, marker: Item) -> None:
        self.gateway.delete_item({"PK": marker["PK"], "SK": marker["SK"]})
