"""The table-backed settings source on DynamoDB Local: start-up reconciliation with the
environment, refresh from the table, failures, and what it costs."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

from mlflow_dynamodbstore.config import RetentionPolicy, StoreSettings
from mlflow_dynamodbstore.config.items import ConfigItems
from mlflow_dynamodbstore.config.source import TableSettingsSource
from mlflow_dynamodbstore.provisioning.direct import create_table_directly
from mlflow_dynamodbstore.stores.connection import Connection, connect


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def requests(conn: Connection) -> dict[str, int]:
    return {op: s.requests for op, s in conn.stats.snapshot().items() if s.requests}


def private(store_uri: str) -> Connection:
    """A private connection whose own settings ignore this process's environment."""
    return connect(store_uri, shared=False, settings_environ={})


def source(conn: Connection, environ: dict[str, str], clock: FakeClock) -> TableSettingsSource:
    return TableSettingsSource(ConfigItems(conn.gateway), environ=environ, clock=clock)


def recreate(ddb_client, table_name: str) -> None:
    create_table_directly(ddb_client, table_name)
    ddb_client.get_waiter("table_exists").wait(TableName=table_name)


def store_settings(conn: Connection, **changes) -> StoreSettings:
    return ConfigItems(conn.gateway).update(
        lambda s: replace(s, **changes), initial=StoreSettings()
    )


def test_lists_are_unioned_into_the_table_never_removing_its_entries(store_uri):
    conn = private(store_uri)
    store_settings(
        conn,
        denormalize_tags=("mlflow.*", "team"),
        fts_trigram_fields=("experiment_name", "run_param_value"),
        experiment_denormalize_tags=(("3", ("owner",)),),
    )
    env = {
        "MLFLOW_DYNAMODB_DENORMALIZE_TAGS": "env,team",
        "MLFLOW_DYNAMODB_FTS_TRIGRAM_FIELDS": "experiment_description",
    }
    conn.stats.reset()
    started = source(conn, env, FakeClock()).start()
    assert requests(conn) == {"GetItem": 1, "PutItem": 1}
    stored = ConfigItems(conn.gateway).load()
    assert stored == started
    assert stored.version == 2
    assert stored.denormalize_tags == ("mlflow.*", "team", "env")
    assert stored.fts_trigram_fields == (
        "experiment_name",
        "run_param_value",
        "experiment_description",
    )
    assert stored.experiment_denormalize_tags == (("3", ("owner",)),)


def test_set_retention_variables_override_and_are_persisted(store_uri):
    conn = private(store_uri)
    store_settings(conn, retention=RetentionPolicy(30, 7, 5))
    env = {
        "MLFLOW_DYNAMODB_TRACE_RETENTION_DAYS": "14",
        "MLFLOW_DYNAMODB_METRIC_HISTORY_RETENTION_DAYS": "0",
    }
    started = source(conn, env, FakeClock()).start()
    assert started.retention == RetentionPolicy(30, 14, 0)
    assert ConfigItems(conn.gateway).load().retention == RetentionPolicy(30, 14, 0)
    # Another server started without the variables keeps the persisted values.
    other = source(conn, {}, FakeClock()).start()
    assert other.retention == RetentionPolicy(30, 14, 0)


def test_retention_variables_on_an_empty_table_are_stored_over_the_defaults(store_uri):
    conn = private(store_uri)
    started = source(conn, {"MLFLOW_DYNAMODB_TRACE_RETENTION_DAYS": "9"}, FakeClock()).start()
    assert started.version == 1
    assert ConfigItems(conn.gateway).load() == replace(
        StoreSettings(), retention=RetentionPolicy(trace_retention_days=9), version=1
    )


def test_a_start_with_nothing_new_costs_one_get_item_and_no_write(store_uri):
    conn = private(store_uri)
    env = {"MLFLOW_DYNAMODB_DENORMALIZE_TAGS": "team", "MLFLOW_DYNAMODB_TRACE_RETENTION_DAYS": "7"}
    first = source(conn, env, FakeClock()).start()
    conn.stats.reset()
    again = source(conn, env, FakeClock()).start()  # a second server, same variables
    assert requests(conn) == {"GetItem": 1}
    assert again == first and again.version == 1
    conn.stats.reset()
    assert source(conn, {}, FakeClock()).start() == first  # no variables at all
    assert requests(conn) == {"GetItem": 1}


def test_an_empty_table_and_no_variables_store_nothing(store_uri):
    conn = private(store_uri)
    conn.stats.reset()
    assert source(conn, {}, FakeClock()).start() == StoreSettings()
    assert requests(conn) == {"GetItem": 1}
    assert ConfigItems(conn.gateway).load() is None


def test_connect_reconciles_once_and_current_costs_nothing_between_refreshes(
    store_uri, monkeypatch
):
    monkeypatch.setenv("MLFLOW_DYNAMODB_DENORMALIZE_TAGS", "team")
    conn = connect(store_uri, shared=False)
    assert ConfigItems(conn.gateway).load().denormalize_tags == ("mlflow.*", "team")
    conn.stats.reset()
    for _ in range(1000):
        assert conn.settings.current().indexes_tag("1", "team")
    assert conn.stats.total_requests == 0


def test_a_change_reaches_another_connection_after_the_refresh_interval(store_uri):
    writer, reader = private(store_uri), private(store_uri)
    clock = FakeClock()
    settings = source(reader, {}, clock)
    assert settings.current() == StoreSettings()
    stored = store_settings(writer, denormalize_tags=("mlflow.*", "team"))

    reader.stats.reset()
    clock.now += settings.refresh_seconds - 0.01
    assert settings.current() == StoreSettings()  # not yet: no request either
    assert reader.stats.total_requests == 0
    clock.now += 0.01
    held = settings.current()
    assert held == stored
    assert requests(reader) == {"GetItem": 1}
    for _ in range(100):  # and free again until the next interval
        assert settings.current() is held
    assert requests(reader) == {"GetItem": 1}

    clock.now += settings.refresh_seconds  # unchanged version: the same settings object
    assert settings.current() is held
    assert requests(reader) == {"GetItem": 2}


def test_the_default_interval_is_30_seconds_and_60_is_the_most(store_uri):
    conn = private(store_uri)
    assert source(conn, {}, FakeClock()).refresh_seconds == 30
    env = {"MLFLOW_DYNAMODB_CONFIG_REFRESH_SECONDS": "60"}
    assert source(conn, env, FakeClock()).refresh_seconds == 60


def test_concurrent_callers_at_a_refresh_make_one_request(store_uri):
    conn = private(store_uri)
    clock = FakeClock()
    settings = source(conn, {}, clock)
    settings.start()
    stored = store_settings(conn, denormalize_tags=("mlflow.*", "x"))
    clock.now += settings.refresh_seconds
    conn.stats.reset()
    barrier = threading.Barrier(8)
    seen: list[StoreSettings] = []

    def call() -> None:
        barrier.wait()
        seen.append(settings.current())

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert requests(conn) == {"GetItem": 1}
    assert settings.current() == stored
    # Callers that came while the read was in flight got the previous settings, never none.
    assert set(seen) <= {StoreSettings(), stored}


def test_a_failed_refresh_keeps_the_last_settings_and_warns_once(
    store_uri, table_name, ddb_client, caplog
):
    conn = private(store_uri)
    stored = store_settings(conn, denormalize_tags=("mlflow.*", "team"))
    clock = FakeClock()
    settings = source(conn, {}, clock)
    assert settings.start() == stored
    ddb_client.delete_table(TableName=table_name)
    ddb_client.get_waiter("table_not_exists").wait(TableName=table_name)

    with caplog.at_level(logging.WARNING, logger="mlflow_dynamodbstore.config.source"):
        for _ in range(3):
            clock.now += settings.refresh_seconds
            assert settings.current() == stored  # no exception reaches the caller
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "keeping the last known settings" in warnings[0].getMessage()

    # The table is back (a new one, a new item): the next refresh picks it up.
    recreate(ddb_client, table_name)
    store_settings(conn, denormalize_tags=("mlflow.*", "a"))
    newer = store_settings(conn, denormalize_tags=("mlflow.*", "b"))
    caplog.clear()
    clock.now += settings.refresh_seconds
    assert settings.current() == newer
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_a_failed_start_serves_the_environment_and_retries(store_uri, table_name, ddb_client):
    conn = private(store_uri)
    ddb_client.delete_table(TableName=table_name)
    ddb_client.get_waiter("table_not_exists").wait(TableName=table_name)
    clock = FakeClock()
    settings = source(conn, {"MLFLOW_DYNAMODB_DENORMALIZE_TAGS": "team"}, clock)
    assert settings.current().denormalize_tags == ("mlflow.*", "team")

    recreate(ddb_client, table_name)  # the table again, empty
    clock.now += settings.refresh_seconds
    assert settings.current().version == 1  # reconciled now: the variable is persisted
    assert ConfigItems(conn.gateway).load().denormalize_tags == ("mlflow.*", "team")
