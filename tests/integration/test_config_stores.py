"""Settings shared through the table by whole stores: two tracking stores on one table see
each other's changes within the refresh interval, and what a store call costs does not
depend on the settings."""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import replace

from mlflow.entities import Metric, Param, RunTag, ViewType

from mlflow_dynamodbstore.config import RetentionPolicy, StoreSettings
from mlflow_dynamodbstore.config.items import ConfigItems
from mlflow_dynamodbstore.config.source import TableSettingsSource
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore

ARTIFACTS = "s3://bucket/artifacts"


def same_table_other_uri(store_uri: str) -> str:
    """The same endpoint and table in the explicit-URL form: a second shared connection
    (connections are shared per URI), as a second server would have."""
    return store_uri.replace("dynamodb://", "dynamodb://http://", 1)


def change(store: DynamoDBTrackingStore, **changes) -> StoreSettings:
    return ConfigItems(store._conn.gateway).update(
        lambda s: replace(s, **changes), initial=StoreSettings()
    )


def test_two_stores_on_one_table_share_a_change_within_the_interval(store_uri, monkeypatch):
    monkeypatch.setenv("MLFLOW_DYNAMODB_CONFIG_REFRESH_SECONDS", "1")
    first = DynamoDBTrackingStore(store_uri, ARTIFACTS)
    second = DynamoDBTrackingStore(same_table_other_uri(store_uri), ARTIFACTS)
    assert first._conn is not second._conn
    assert second._conn.settings.current() == StoreSettings()

    changed_at = time.monotonic()
    stored = change(first, denormalize_tags=("mlflow.*", "team"))
    while second._conn.settings.current() != stored:
        assert time.monotonic() - changed_at < 5, "the change never reached the other store"
        time.sleep(0.05)
    # At most one interval (1 s) plus a GetItem's time and the polling step.
    assert time.monotonic() - changed_at < 2.5
    assert second._conn.settings.current().indexes_tag("7", "team")


def test_a_store_sees_the_change_exactly_at_the_interval_with_an_injected_clock(store_uri):
    first = DynamoDBTrackingStore(store_uri, ARTIFACTS)
    second = DynamoDBTrackingStore(same_table_other_uri(store_uri), ARTIFACTS)
    now = [0.0]
    second._conn.settings = TableSettingsSource(
        ConfigItems(second._conn.gateway), environ={}, clock=lambda: now[0]
    )
    assert second._conn.settings.current() == StoreSettings()
    stored = change(first, retention=RetentionPolicy(30, 7, 0))
    now[0] = 29.9
    assert second._conn.settings.current().retention == RetentionPolicy()
    now[0] = 30.0
    assert second._conn.settings.current() == stored


def scenario(store: DynamoDBTrackingStore) -> list[dict[str, int]]:
    """Common calls; the requests each made."""
    stats = store._conn.stats
    counts: list[dict[str, int]] = []

    def measured(call):
        stats.reset()
        result = call()
        counts.append({op: s.requests for op, s in stats.snapshot().items() if s.requests})
        return result

    eid = measured(lambda: store.create_experiment("exp"))
    run = measured(lambda: store.create_run(eid, "u", 1, [RunTag("team", "a")], "r"))
    run_id = run.info.run_id
    measured(lambda: store.log_param(run_id, Param("p", "1")))
    measured(lambda: store.set_tag(run_id, RunTag("team", "b")))
    measured(lambda: store.log_metric(run_id, Metric("m", 1.0, 1, 0)))
    measured(lambda: store.get_run(run_id))
    measured(lambda: store.get_experiment(eid))
    measured(lambda: store.search_runs([eid], "tags.team = 'b'", ViewType.ALL, 10))
    return counts


def test_a_store_call_costs_the_same_whatever_the_settings(
    store_uri, dynamodb_local, ddb_client, monkeypatch
):
    for suffix in ("DENORMALIZE_TAGS", "FTS_TRIGRAM_FIELDS", "TRACE_RETENTION_DAYS"):
        monkeypatch.delenv(f"MLFLOW_DYNAMODB_{suffix}", raising=False)
    plain = scenario(DynamoDBTrackingStore(store_uri, ARTIFACTS))

    other_table = f"t{uuid.uuid4().hex[:16]}"
    # globs no tag of the scenario matches: reading the settings costs nothing, only what
    # they index does (a matching glob adds tag index entries, docs/tag-index.md)
    monkeypatch.setenv("MLFLOW_DYNAMODB_DENORMALIZE_TAGS", "unused,elsewhere.*")
    monkeypatch.setenv("MLFLOW_DYNAMODB_FTS_TRIGRAM_FIELDS", "run_param_value")
    monkeypatch.setenv("MLFLOW_DYNAMODB_TRACE_RETENTION_DAYS", "7")
    try:
        configured = DynamoDBTrackingStore(
            f"dynamodb://127.0.0.1:{dynamodb_local.port}/{other_table}", ARTIFACTS
        )
        assert configured._conn.settings.current().indexes_tag("1", "unused")
        assert configured._conn.settings.current().retention.trace_retention_days == 7
        assert scenario(configured) == plain
    finally:
        with contextlib.suppress(ddb_client.exceptions.ResourceNotFoundException):
            ddb_client.delete_table(TableName=other_table)
