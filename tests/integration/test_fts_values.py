"""Run tag and param values in the trigram index: postings follow every write and delete,
a field is used only once configured and backfilled (through the ``fts`` CLI), an indexed
search reads only candidates, and the write overhead per set_tag."""

from __future__ import annotations

import json
import time

import pytest
from mlflow.entities import Param, RunTag, ViewType

from mlflow_dynamodbstore.backfills.fts import backfill_fts
from mlflow_dynamodbstore.config.settings import FTS_TRIGRAM_FIELDS_ENV
from mlflow_dynamodbstore.config.source import REFRESH_SECONDS_ENV
from mlflow_dynamodbstore.fts.field_postings import (
    RUN_PARAM_VALUE,
    RUN_TAG_VALUE,
    VALUE_CAP,
    VALUE_FIELDS,
    value_document,
    value_keys,
)
from mlflow_dynamodbstore.fts.lookup import READINESS
from mlflow_dynamodbstore.schema.fts_keys import FTS_SHARDS
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.fts.helpers import counted, ops, run_cli

WS = "default"


def _value_postings(gateway) -> set[tuple[str, str]]:
    """Every value posting in the table (a Scan: test code only)."""
    client, found, start = gateway.client, set(), None
    marks = tuple(f"FTS#{WS}#{f}#" for f in VALUE_FIELDS)
    while True:
        kwargs = {"TableName": gateway.table_name}
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = client.scan(**kwargs)
        for raw in page["Items"]:
            if raw["PK"]["S"].startswith(marks):
                found.add((raw["PK"]["S"], raw["SK"]["S"]))
        start = page.get("LastEvaluatedKey")
        if not start:
            return found


def _expected(*values: tuple[str, str, str, str, str]) -> set[tuple[str, str]]:
    """Postings of (field, experiment, key, run id, value)."""
    found = set()
    for field, exp, key, run_id, value in values:
        for k in value_keys(value_document(WS, field, exp, key, run_id), value):
            found.add((k["PK"], k["SK"]))
    return found


@pytest.fixture
def valued(monkeypatch, store_uri):
    """A store whose settings name both value fields, ready (new table, empty backfill)."""
    monkeypatch.setenv(FTS_TRIGRAM_FIELDS_ENV, ",".join(VALUE_FIELDS))
    store = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    # switched on by the env: unready, built by the backfill (no servers to wait for)
    backfill_fts(store.gateway.unscoped, settle_seconds=0)
    return store


def test_postings_follow_tag_and_param_writes(valued):
    store, gateway = valued, valued.gateway.unscoped
    exp = store.create_experiment("e")
    long_value = "".join(chr(0x4E00 + i) for i in range(VALUE_CAP + 50))
    r1 = store.create_run(exp, "u", 1, [RunTag("note", "Résumé 数据")], "r1").info.run_id
    r2 = store.create_run(exp, "u", 2, [], "r2").info.run_id
    store.log_batch(r2, [], [Param("p", "alpha-beta")], [RunTag("note", long_value)])
    store.set_tag(r1, RunTag("other", "x" * 6000))  # spilled out of META
    want = [
        (RUN_TAG_VALUE, exp, "note", r1, "Résumé 数据"),
        (RUN_TAG_VALUE, exp, "other", r1, "x" * 6000),
        (RUN_TAG_VALUE, exp, "note", r2, long_value),
        (RUN_PARAM_VALUE, exp, "p", r2, "alpha-beta"),
    ]
    stored = _value_postings(gateway)
    assert stored == _expected(*want)
    # the long value: the cap's postings plus its entry on the key's overflow list
    overflow = [pk for pk, sk in stored if sk == r2 and pk.endswith("#OVERFLOW")]
    assert len(overflow) == 1 and f"#{exp}#note#" in overflow[0]

    store.set_tag(r1, RunTag("note", "résumé v2"))  # overwrite: only the difference moves
    store.set_tag(r1, RunTag("other", "short"))  # spilled -> inline
    store.delete_tag(r2, "note")
    want = [
        (RUN_TAG_VALUE, exp, "note", r1, "résumé v2"),
        (RUN_TAG_VALUE, exp, "other", r1, "short"),
        (RUN_PARAM_VALUE, exp, "p", r2, "alpha-beta"),
    ]
    assert _value_postings(gateway) == _expected(*want)

    store.delete_run(r2)  # soft delete keeps them (the lifecycle filter drops the run)
    assert _value_postings(gateway) == _expected(*want)
    store._hard_delete_run(r2)  # mlflow gc
    assert _value_postings(gateway) == _expected(*want[:2])


def test_indexed_tag_value_search_reads_only_candidates(valued):
    store = valued
    exp = store.create_experiment("e")
    for i in range(60):
        note = f"note-{i:03d}-{'kvq' if i % 30 == 3 else 'abc'}"
        store.create_run(exp, "u", i, [RunTag("note", note)], f"run-{i:03d}")
    store.search_runs([exp], "tags.note LIKE '%warm%'", ViewType.ALL)  # readiness cached
    runs, stats = counted(
        store, lambda: store.search_runs([exp], "tags.note ILIKE '%KVQ%'", ViewType.ALL)
    )
    assert sorted(r.info.run_name for r in runs) == ["run-003", "run-033"]
    # the experiment, the 2 candidate METAs and their LIVE items (option D: every run has
    # one, docs/access-patterns.md); the posting list (a Query per shard) and the key's
    # overflow list
    assert ops(stats) == {"BatchGetItem": 3, "Query": FTS_SHARDS + 1}

    # params the same way
    run_id = runs[0].info.run_id
    store.log_batch(run_id, [], [Param("path", "/data/zqx-set")], [])
    runs, stats = counted(
        store, lambda: store.search_runs([exp], "params.path LIKE '%zqx%'", ViewType.ALL)
    )
    assert [r.info.run_id for r in runs] == [run_id]
    assert ops(stats) == {"BatchGetItem": 3, "Query": FTS_SHARDS + 1}  # + its LIVE item

    # a pattern that cannot narrow walks the listing as before
    _, full = counted(
        store, lambda: store.search_runs([exp], "tags.note LIKE '%kv%'", ViewType.ALL)
    )
    assert ops(full)["Query"] != FTS_SHARDS + 1


def test_write_overhead_per_set_tag(monkeypatch, store_uri):
    """Same requests; each posting costs 2 write units (transactional), META's write too."""
    monkeypatch.setenv(REFRESH_SECONDS_ENV, "0.1")
    store = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    exp = store.create_experiment("e")
    run_id = store.create_run(exp, "u", 1, [], "r").info.run_id
    value = "abcdefghijklmnopqrst"  # 20 characters: 18 distinct trigrams
    _, off = counted(store, lambda: store.set_tag(run_id, RunTag("k1", value)))

    run_cli("fts", "add", store_uri, RUN_TAG_VALUE)
    time.sleep(0.3)  # the settings refresh
    assert RUN_TAG_VALUE in store._conn.settings.current().fts_trigram_fields
    _, on = counted(store, lambda: store.set_tag(run_id, RunTag("k2", value)))
    # 2 GetItem (META, experiment) + one write each; a GetItem more is the 0.1 s refresh
    assert ops(on)["GetItem"] >= 2 and ops(off)["GetItem"] >= 2
    assert ops(on)["TransactWriteItems"] == 1 and "PutItem" in ops(off)
    # DynamoDB Local does not report a transaction's write units as AWS bills them (2 per
    # item under 1 KB): count the postings written instead (docs give the computed cost).
    keys_k2 = _expected((RUN_TAG_VALUE, exp, "k2", run_id, value))
    assert len(keys_k2) == 18 and _value_postings(store.gateway.unscoped) == keys_k2


def test_field_configured_through_cli_then_backfilled_then_removed(monkeypatch, store_uri):
    monkeypatch.setenv(REFRESH_SECONDS_ENV, "0.1")
    store = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    gateway = store.gateway.unscoped
    exp = store.create_experiment("e")
    old = store.create_run(exp, "u", 1, [RunTag("note", "before-zqx")], "old").info.run_id
    assert _value_postings(gateway) == set()  # not configured: nothing written

    added = run_cli("fts", "add", store_uri, RUN_TAG_VALUE, "--json")
    row = {r["field"]: r for r in json.loads(added.stdout)}[RUN_TAG_VALUE]
    assert row == {"field": RUN_TAG_VALUE, "always_on": False, "maintained": True, "ready": False}
    assert "fts backfill" in added.stderr
    time.sleep(0.3)  # this server's settings refresh
    new = store.create_run(exp, "u", 2, [RunTag("note", "after-zqx")], "new").info.run_id
    # (the mlflow.runName tag has no value postings: its run_name postings serve it)
    assert _value_postings(gateway) == _expected((RUN_TAG_VALUE, exp, "note", new, "after-zqx"))

    def search():
        return store.search_runs([exp], "tags.note LIKE '%zqx%'", ViewType.ALL)

    # configured, not ready: the full path still finds both (the old run has no posting)
    runs, stats = counted(store, search)
    assert sorted(r.info.run_name for r in runs) == ["new", "old"]
    assert ops(stats).get("Query") != FTS_SHARDS + 1

    result = run_cli("fts", "backfill", store_uri, "--settle-seconds", "0", "--json")
    report = json.loads(result.stdout)
    assert report["entities"][RUN_TAG_VALUE] == 2
    both = _expected(
        (RUN_TAG_VALUE, exp, "note", new, "after-zqx"),
        (RUN_TAG_VALUE, exp, "note", old, "before-zqx"),
    )
    assert _value_postings(gateway) == both
    listed = json.loads(run_cli("fts", "list", store_uri, "--json").stdout)
    assert {r["field"]: r["ready"] for r in listed}[RUN_TAG_VALUE] is True
    runs, stats = counted(store, search)
    assert sorted(r.info.run_name for r in runs) == ["new", "old"]
    assert {k: v for k, v in ops(stats).items() if k != "GetItem"} == {
        "BatchGetItem": 3,  # experiment, candidates, the matches' LIVE items (option D)
        "Query": FTS_SHARDS + 1,
    }  # indexed (a GetItem: the 0.1 s settings refresh)

    removed = run_cli("fts", "remove", store_uri, RUN_TAG_VALUE, "--json")
    assert RUN_TAG_VALUE not in {r["field"] for r in json.loads(removed.stdout)}
    time.sleep(0.3)
    runs, stats = counted(store, search)
    assert sorted(r.info.run_name for r in runs) == ["new", "old"]
    assert ops(stats).get("Query") != FTS_SHARDS + 1  # the full path again
    store.set_tag(old, RunTag("note", "changed-zqx"))  # no longer maintained
    assert _value_postings(gateway) == both  # postings are left (storage only)
    assert not READINESS.is_ready(gateway, RUN_TAG_VALUE)


def test_backfill_waits_for_the_settings_to_settle(store_uri, store):
    run_cli("fts", "add", store_uri, RUN_PARAM_VALUE)
    started = time.monotonic()
    # (the add itself may take a few seconds here: the wait counts from the add's record)
    result = run_cli("fts", "backfill", store_uri, "--settle-seconds", "12")
    assert time.monotonic() - started >= 4.0 and "waiting" in result.stderr
    assert READINESS.is_ready(store.gateway.unscoped, RUN_PARAM_VALUE)


def test_workspace_moves_and_cascade_carry_the_value_postings(monkeypatch, store_uri):
    """SET_DEFAULT moves a workspace's value postings to default's keys (an indexed tag
    search there finds the moved run, long values through the overflow list); CASCADE
    deletes them."""
    from mlflow.entities.workspace import Workspace, WorkspaceDeletionMode
    from mlflow.utils.workspace_context import WorkspaceContext

    from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider

    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    monkeypatch.setenv(FTS_TRIGRAM_FIELDS_ENV, ",".join(VALUE_FIELDS))
    provider = DynamoDBWorkspaceProvider(store_uri)
    tracking = DynamoDBTrackingStore(store_uri, "s3://b/a")
    gateway = tracking.gateway.unscoped
    backfill_fts(gateway, settle_seconds=0)
    long_value = "".join(chr(0x4E00 + i) for i in range(VALUE_CAP + 20)) + "-zqx"
    for ws in ("team-a", "team-b"):
        provider.create_workspace(Workspace(ws))
        with WorkspaceContext(ws):
            exp = tracking.create_experiment(f"{ws} experiment")
            run_id = tracking.create_run(
                exp, "u", 1, [RunTag("note", f"{ws}-zqx")], "r"
            ).info.run_id
            tracking.log_batch(run_id, [], [Param("p", "v-zqx")], [RunTag("long", long_value)])
    assert {pk.split("#")[1] for pk, _ in _value_postings_all(gateway)} == {"team-a", "team-b"}

    provider.delete_workspace("team-a", WorkspaceDeletionMode.SET_DEFAULT)
    provider.delete_workspace("team-b", WorkspaceDeletionMode.CASCADE)
    assert {pk.split("#")[1] for pk, _ in _value_postings_all(gateway)} == {"default"}
    with WorkspaceContext("default"):
        [exp] = tracking.search_experiments(filter_string="name LIKE '%team-a%'")
        for flt in ("tags.note LIKE '%zqx%'", "params.p ILIKE '%ZQX'", "tags.long LIKE '%zqx'"):
            runs = tracking.search_runs([exp.experiment_id], flt, ViewType.ALL)
            assert [r.info.run_id for r in runs] == [run_id_of(tracking, exp.experiment_id)]


def run_id_of(tracking, experiment_id: str) -> str:
    [run] = tracking.search_runs([experiment_id], "", ViewType.ALL)
    return run.info.run_id


def _value_postings_all(gateway) -> set[tuple[str, str]]:
    """Value postings of every workspace (a Scan: test code only)."""
    client, found, start = gateway.client, set(), None
    while True:
        kwargs = {"TableName": gateway.table_name}
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = client.scan(**kwargs)
        for raw in page["Items"]:
            parts = raw["PK"]["S"].split("#")
            if parts[0] == "FTS" and len(parts) > 2 and parts[2] in VALUE_FIELDS:
                found.add((raw["PK"]["S"], raw["SK"]["S"]))
        start = page.get("LastEvaluatedKey")
        if not start:
            return found
