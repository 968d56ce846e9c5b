"""Trace names are opt-in in the trigram index (docs/full-text-search.md, the write cost):
by default a named trace is one PutItem of META (no postings), renames and deletes write
no postings, the jobs skip them, and name searches walk the listing with the same results.
Switching trace names on (or off) leaves the index not ready until ``fts backfill``, which
first waits until every server has seen the change."""

from __future__ import annotations

import json

from mlflow.entities import TraceInfo, TraceLocation, TraceState
from mlflow.tracing.constant import TraceTagKey

from mlflow_dynamodbstore.backfills import fts as backfill_module
from mlflow_dynamodbstore.backfills.fts import SETTLE_MARGIN, backfill_fts, wait_for_servers
from mlflow_dynamodbstore.config.settings import ALWAYS_TRIGRAM_FIELDS, StoreSettings
from mlflow_dynamodbstore.config.source import MAX_REFRESH_SECONDS
from mlflow_dynamodbstore.fts import lookup
from mlflow_dynamodbstore.fts.lookup import READINESS
from mlflow_dynamodbstore.fts.postings import TRACE_NAME
from mlflow_dynamodbstore.lifecycle.apply import TtlApply
from mlflow_dynamodbstore.schema import fts_keys
from tests.fts.helpers import refresh_settings_now, run_cli
from tests.integration.lifecycle_helpers import set_policy

NAME = "ChatModel.invoke v2"  # 19 characters: 17 distinct trigrams


def _start(store, exp: str, trace_id: str, name: str | None, request_time: int = 1000) -> None:
    store.start_trace(
        TraceInfo(
            trace_id=trace_id,
            trace_location=TraceLocation.from_experiment_id(exp),
            request_time=request_time,
            state=TraceState.OK,
            tags={TraceTagKey.TRACE_NAME: name} if name is not None else {},
        )
    )


def _trace_postings(gateway) -> set[tuple[str, str]]:
    """Every trace-name posting in the table (a Scan: test code only)."""
    found, start = set(), None
    while True:
        kwargs = {"TableName": gateway.table_name}
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = gateway.client.scan(**kwargs)
        for raw in page["Items"]:
            if raw["PK"]["S"].startswith("FTS#") and f"#{TRACE_NAME}#" in raw["PK"]["S"]:
                found.add((raw["PK"]["S"], raw["SK"]["S"]))
        start = page.get("LastEvaluatedKey")
        if not start:
            return found


def _ops(store) -> dict[str, int]:
    return {name: op.requests for name, op in store.gateway.stats.snapshot().items()}


def _ids(store, exp: str, flt: str) -> list[str]:
    return [i.trace_id for i in store.search_traces([exp], flt)[0]]


def test_trace_name_is_not_always_on():
    assert TRACE_NAME not in ALWAYS_TRIGRAM_FIELDS
    assert not StoreSettings().indexes_trigrams(TRACE_NAME)


def test_by_default_a_named_trace_writes_no_postings(store):
    exp = store.create_experiment("e")
    store.gateway.stats.reset()
    _start(store, exp, "tr-1", NAME)
    ops = _ops(store)
    # META is one PutItem; the one transaction is the stats item's with its rollup cells
    # (docs/trace-analytics.md): no postings
    assert ops == {"GetItem": 1, "PutItem": 1, "TransactWriteItems": 1}, ops
    store.gateway.stats.reset()
    store.set_trace_tag("tr-1", TraceTagKey.TRACE_NAME, "renamed ChatModel")
    assert _ops(store).get("TransactWriteItems") == 1  # the stats item's (the name is a dimension)
    _start(store, exp, "tr-2", "predict", 2000)
    _start(store, exp, "tr-3", "ChatModel.invoke", 3000)
    assert _trace_postings(store.gateway.unscoped) == set()

    # name searches walk the listing (no candidate reads) and find the same traces
    store.gateway.stats.reset()
    assert _ids(store, exp, "name LIKE '%ChatModel%'") == ["tr-3", "tr-1"]
    assert "BatchGetItem" not in _ops(store)
    assert _ids(store, exp, "name ILIKE '%PREDICT'") == ["tr-2"]

    # deletes and the TTL job write no postings either
    store.gateway.stats.reset()
    store.delete_traces(exp, trace_ids=["tr-2"])
    ops = store.gateway.stats.snapshot()
    # META and the stats item in one transaction with the rollup cells (no spans), and no
    # BatchWriteItem: no postings (17 deletes in one with names on)
    assert "BatchWriteItem" not in ops and ops["TransactWriteItems"].requests == 1, ops
    set_policy(store, trace_retention_days=3)
    TtlApply(store._conn.gateway, store._conn.settings.current().retention).run()
    assert _trace_postings(store.gateway.unscoped) == set()


def test_switching_on_needs_the_backfill_and_switching_off_stops_the_writes(store, store_uri):
    gateway = store.gateway.unscoped
    exp = store.create_experiment("e")
    _start(store, exp, "tr-old", "old zqx trace", 1000)

    added = run_cli("fts", "add", store_uri, TRACE_NAME, "--json")
    assert "fts backfill" in added.stderr
    marker = gateway.get_item(fts_keys.ready_key(TRACE_NAME))
    assert marker["complete"] is False and marker["changed_at"] > 0
    row = {r["field"]: r for r in json.loads(added.stdout)}[TRACE_NAME]
    assert row["maintained"] and not row["ready"]

    refresh_settings_now(store)  # this server's refresh interval has passed
    _start(store, exp, "tr-new", "new zqx trace", 2000)
    assert {sk for _, sk in _trace_postings(gateway)} == {"tr-new"}
    # not ready: the old trace has no postings, so the search walks the listing
    store.gateway.stats.reset()
    assert _ids(store, exp, "name LIKE '%zqx%'") == ["tr-new", "tr-old"]
    assert "BatchGetItem" not in _ops(store)

    # the backfill first waits until every server has seen the change
    slept: list[float] = []
    assert wait_for_servers(gateway, sleep=slept.append) > MAX_REFRESH_SECONDS - 5
    assert slept and MAX_REFRESH_SECONDS - 5 < slept[0] <= MAX_REFRESH_SECONDS + SETTLE_MARGIN
    report = backfill_fts(gateway, settle_seconds=0)
    assert report.entities[TRACE_NAME] == 2
    assert READINESS.is_ready(gateway, TRACE_NAME)
    store.gateway.stats.reset()
    assert _ids(store, exp, "name LIKE '%zqx%'") == ["tr-new", "tr-old"]
    assert _ops(store)["BatchGetItem"] == 1  # through the index
    assert wait_for_servers(gateway, sleep=slept.append) == 0  # ready: nothing to wait for

    run_cli("fts", "remove", store_uri, TRACE_NAME, "--json")
    assert gateway.get_item(fts_keys.ready_key(TRACE_NAME))["complete"] is False
    before = _trace_postings(gateway)
    refresh_settings_now(store)
    store.gateway.stats.reset()
    _start(store, exp, "tr-after", "after zqx trace", 3000)
    assert _ops(store).get("TransactWriteItems") == 1  # the stats item's, not META's
    assert _trace_postings(gateway) == before
    store.gateway.stats.reset()
    assert _ids(store, exp, "name LIKE '%zqx%'") == ["tr-after", "tr-new", "tr-old"]
    assert "BatchGetItem" not in _ops(store)


def test_a_backfill_without_trace_names_builds_the_rest(store, monkeypatch):
    gateway = store.gateway.unscoped
    exp = store.create_experiment("e")
    _start(store, exp, "tr-1", NAME)
    READINESS.mark(gateway, TRACE_NAME, False)
    report = backfill_fts(gateway)  # nothing to wait for: trace names are off
    assert report.entities[TRACE_NAME] == 0 and report.entities["experiment_name"] == 2
    assert _trace_postings(gateway) == set()
    assert not READINESS.is_ready(gateway, TRACE_NAME)
    assert all(READINESS.is_ready(gateway, f) for f in backfill_module.FIELDS[:-1])


def test_an_opt_in_fields_ready_cache_expires(store, monkeypatch):
    """A process that cached trace names as ready sees them unready (switched off and on
    again) after RECHECK_SECONDS; an always-on field's ready stays cached."""
    gateway = store.gateway.unscoped
    READINESS.mark(gateway, TRACE_NAME, True)
    assert READINESS.is_ready(gateway, TRACE_NAME)
    gateway.put_item({**fts_keys.ready_key(TRACE_NAME), "complete": False})
    assert READINESS.is_ready(gateway, TRACE_NAME)  # cached
    monkeypatch.setattr(lookup, "RECHECK_SECONDS", 0.0)
    assert not READINESS.is_ready(gateway, TRACE_NAME)
    assert READINESS.is_ready(gateway, "experiment_name")


def test_workspace_moves_and_cascade_write_no_trace_postings_by_default(monkeypatch, store_uri):
    from mlflow.entities.workspace import Workspace, WorkspaceDeletionMode
    from mlflow.utils.workspace_context import WorkspaceContext

    from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
    from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider

    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    provider = DynamoDBWorkspaceProvider(store_uri)
    tracking = DynamoDBTrackingStore(store_uri, "s3://b/a")
    for n, ws in enumerate(("team-a", "team-b")):
        provider.create_workspace(Workspace(ws))
        with WorkspaceContext(ws):
            exp = tracking.create_experiment(f"{ws} experiment")
            _start(tracking, exp, f"tr-{n}", f"{ws} zqx trace")
    provider.delete_workspace("team-a", WorkspaceDeletionMode.SET_DEFAULT)
    provider.delete_workspace("team-b", WorkspaceDeletionMode.CASCADE)
    assert _trace_postings(tracking.gateway.unscoped) == set()
    with WorkspaceContext("default"):
        [exp] = tracking.search_experiments(filter_string="name = 'team-a experiment'")
        assert _ids(tracking, exp.experiment_id, "name LIKE '%zqx%'") == ["tr-0"]
