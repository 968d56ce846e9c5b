"""`tags backfill` and `fts backfill` as real processes, SIGKILLed half way (after their
checkpoint shows progress) and run again: the index ends complete and exact, item for item
what the live writes had made (issue #15)."""

from __future__ import annotations

import json
import signal
import time
import uuid

import pytest
from boto3.dynamodb.types import TypeDeserializer
from mlflow.entities import ExperimentTag, RunTag, ViewType

from mlflow_dynamodbstore.backfills.fts import FIELDS as FTS_FIELDS
from mlflow_dynamodbstore.fts.lookup import READINESS
from mlflow_dynamodbstore.repositories.tag_index import TABLE_SCOPE, TagIndexState
from mlflow_dynamodbstore.schema import fts_keys, tag_index_keys
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.fts.helpers import cli_process

RUNS = 1200
_DESERIALIZE = TypeDeserializer().deserialize


@pytest.fixture(scope="module")
def populated(dynamodb_local):
    """A table with 1,200 runs in two experiments (tags, names: both indexes have work)."""
    uri = f"dynamodb://127.0.0.1:{dynamodb_local.port}/t{uuid.uuid4().hex[:16]}"
    store = DynamoDBTrackingStore(uri, "s3://bucket/artifacts")
    exps = [
        store.create_experiment(f"exp {n}", tags=[ExperimentTag("mlflow.user", n)])
        for n in ("alice", "bob")
    ]
    for i in range(RUNS):
        user = "alice" if i % 25 == 0 else "bob"
        tags = [RunTag("mlflow.user", user), RunTag("mlflow.source.name", f"s{i % 7}")]
        store.create_run(exps[i % 2], user, i, tags, f"run {i:04d}")
    return uri, store, exps


def _snapshot(store) -> dict[tuple[str, str], dict]:
    """Every item outside ``CONFIG`` (a Scan: test code only)."""
    gateway = store._conn.gateway
    found, start = {}, None
    while True:
        kwargs = {"TableName": gateway.table_name}
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = gateway.client.scan(**kwargs)
        for raw in page["Items"]:
            item = {k: _DESERIALIZE(v) for k, v in raw.items()}
            if item["PK"] != "CONFIG":
                found[(item["PK"], item["SK"])] = item
        start = page.get("LastEvaluatedKey")
        if not start:
            return found


def _kill_after_progress(uri: str, args: tuple[str, ...], record_key: dict, store) -> dict:
    """Start the command, SIGKILL it once its record holds a cursor; the record left."""
    client = store._conn.gateway.client
    table = store._conn.gateway.table_name
    key = {k: {"S": v} for k, v in record_key.items()}
    process = cli_process(uri, *args)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            raw = client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
            if raw and raw.get("after"):
                process.send_signal(signal.SIGKILL)
                break
            assert process.poll() is None, "the backfill ended before it could be killed"
            time.sleep(0.02)
        else:
            raise AssertionError("no checkpoint within 300 s")
    finally:
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    raw = client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    assert raw is not None, "the killed job left its cursor"
    return {k: _DESERIALIZE(v) for k, v in raw.items()}


def _run_to_end(uri: str, *args: str) -> dict:
    process = cli_process(uri, *args)
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    return json.loads(out)


def _alice_runs(store, exps) -> list[str]:
    runs = store.search_runs(exps, "tags.mlflow.user = 'alice'", ViewType.ALL, max_results=1000)
    return [r.info.run_name for r in runs]


def test_tags_backfill_killed_then_rerun_is_complete_and_exact(populated):
    uri, store, exps = populated
    gateway = store._conn.gateway
    before = _snapshot(store)
    entries = {k for k in before if k[1].startswith(tag_index_keys.ENTRY_PREFIX)}
    assert len(entries) > 2 * RUNS  # mlflow.user, mlflow.source.name (and the run names)
    expected = _alice_runs(store, exps)
    for key in entries:  # a table from before the index
        gateway.delete_item({"PK": key[0], "SK": key[1]})
    TagIndexState(gateway).unmark(TABLE_SCOPE, ["mlflow.*"])

    cursor = _kill_after_progress(
        uri, ("tags", "backfill"), tag_index_keys.backfill_record_key(), store
    )
    assert cursor.get("experiment_id") in exps
    partial = {k for k in _snapshot(store) if k in entries}
    assert 0 < len(partial) < len(entries)  # killed half way
    assert TagIndexState(gateway).load()[TABLE_SCOPE] == []  # not used while incomplete

    report = _run_to_end(uri, "tags", "backfill")
    assert report["resumed"] and report["runs"] < RUNS
    assert report["complete"] == {TABLE_SCOPE: ["mlflow.*"]}
    assert gateway.get_item(tag_index_keys.backfill_record_key()) is None
    assert _snapshot(store) == before  # every entry back, nothing else written or changed
    assert _alice_runs(store, exps) == expected


def test_fts_backfill_killed_then_rerun_is_complete_and_exact(populated):
    uri, store, _ = populated
    gateway = store._conn.gateway
    before = _snapshot(store)
    posting_keys = {k for k in before if k[0].startswith(f"{fts_keys.FTS_PREFIX}#")}
    assert len(posting_keys) > RUNS
    for key in posting_keys:  # a table from before the index
        gateway.delete_item({"PK": key[0], "SK": key[1]})
    for field in FTS_FIELDS:
        READINESS.mark(gateway, field, False)

    cursor = _kill_after_progress(uri, ("fts", "backfill"), fts_keys.backfill_record_key(), store)
    assert cursor.get("unit")
    partial = {k for k in _snapshot(store) if k in posting_keys}
    assert 0 < len(partial) < len(posting_keys)
    for field in FTS_FIELDS:
        assert gateway.get_item(fts_keys.ready_key(field)) is None  # not used yet

    report = _run_to_end(uri, "fts", "backfill")
    assert report["resumed"]
    assert gateway.get_item(fts_keys.backfill_record_key()) is None
    assert _snapshot(store) == before
    READINESS.forget()
    found = store.search_runs(
        [e.experiment_id for e in store.search_experiments()],
        "attributes.run_name LIKE '%un 11%'",
        ViewType.ALL,
    )
    assert sorted(r.info.run_name for r in found) == [f"run {i:04d}" for i in range(1100, 1200)]
