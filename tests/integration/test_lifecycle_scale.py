"""Cleanup scales with what expired, not with the table: the same deleted runs among 30x
more live runs cost exactly the same requests (the issue's 2,000 runs / 500 deleted, scaled
down to keep the suite quick on shared machines; the equality is what matters)."""

from __future__ import annotations

import contextlib
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
from mlflow.entities import Metric

from mlflow_dynamodbstore.fts.trigrams import trigrams
from mlflow_dynamodbstore.lifecycle.cleanup import Cleanup
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.integration.lifecycle_helpers import all_items, clock_in, set_policy

DELETED = 20
LIVE_SMALL, LIVE_BIG = 5, 150


def _seed(store, live: int, deleted: int) -> list[str]:
    exp = store.create_experiment("scale")

    def one(n: int) -> str:
        run_id = store.create_run(exp, "u", 1000 + n, [], f"r{n}").info.run_id
        # a history block of 4 points for "loss", one point for "acc"
        store.log_batch(
            run_id,
            [Metric("loss", 1.0 / (s + 1), 1000 + s, s) for s in range(4)]
            + [Metric("acc", 0.5, 1000, 0)],
            [],
            [],
        )
        if n < deleted:
            store.delete_run(run_id)
        return run_id

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(live + deleted)))


def _cleanup_cost(store) -> tuple[int, int, dict[str, int]]:
    gateway = store._conn.gateway
    policy = set_policy(store, soft_deleted_retention_days=30)
    gateway.stats.reset()
    summary = Cleanup(gateway, policy, clock=clock_in(31)).run()
    assert summary.runs == DELETED
    requests = {op: s.requests for op, s in gateway.stats.snapshot().items()}
    return gateway.stats.total_requests, summary.items_deleted, requests


def test_cleanup_requests_grow_with_deleted_items_not_with_the_table(store, dynamodb_local):
    set_policy(store, soft_deleted_retention_days=30)
    _seed(store, LIVE_SMALL, DELETED)
    small_items = len(all_items(store))
    small = _cleanup_cost(store)

    big_table = f"t{uuid.uuid4().hex[:16]}"
    big_store = DynamoDBTrackingStore(
        f"dynamodb://127.0.0.1:{dynamodb_local.port}/{big_table}", "s3://b/a"
    )
    try:
        set_policy(big_store, soft_deleted_retention_days=30)
        _seed(big_store, LIVE_BIG, DELETED)
        big_items = len(all_items(big_store))
        big = _cleanup_cost(big_store)
        after = len(all_items(big_store))
    finally:
        client = boto3.client(
            "dynamodb", endpoint_url=dynamodb_local.endpoint_url, region_name="us-east-1"
        )
        with contextlib.suppress(client.exceptions.ResourceNotFoundException):
            client.delete_table(TableName=big_table)

    assert big_items > 5 * small_items  # the big table really is many times bigger
    # same deleted runs, same items removed, same requests: the live runs cost nothing
    assert big[1] == small[1]
    assert big[0] == small[0], (small[2], big[2])
    # per deleted run: META + marker reads/deletes, a Query and a BatchWriteItem per
    # partition (run, loss, acc) - a bounded handful, far fewer than the live runs
    assert big[0] <= 12 * DELETED + 20 < LIVE_BIG * 2
    # everything of the deleted runs went (4 items each: META, the LIVE item holding the
    # step's points in its buffers, two LATEST; the postings of their names, e.g. "r12"; the
    # tag index entry of mlflow.runName) with their markers, nothing of the live ones; the
    # job record was added
    postings = sum(len(trigrams(f"r{n}")) for n in range(DELETED))
    assert big[1] == 4 * DELETED + postings + DELETED
    assert after == big_items - big[1] - DELETED + 1
