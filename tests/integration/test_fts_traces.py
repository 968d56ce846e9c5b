"""Trace names in the trigram index, switched on (they are opt-in): the postings follow
start_trace, renames through the ``mlflow.traceName`` tag, deletes, TTL, workspace moves
and the backfill exactly; an indexed search reads only the posting lists and the
candidates (request counts). tests/integration/test_fts_trace_names_opt_in.py covers the
default (off) and switching."""

from __future__ import annotations

import json

import pytest
from mlflow.entities import ExperimentTag, TraceInfo, TraceLocation, TraceState
from mlflow.exceptions import MlflowException
from mlflow.tracing.constant import TraceTagKey

from mlflow_dynamodbstore.backfills import fts as backfill_module
from mlflow_dynamodbstore.backfills.fts import backfill_fts
from mlflow_dynamodbstore.fts import postings
from mlflow_dynamodbstore.fts.lookup import READINESS
from mlflow_dynamodbstore.lifecycle.apply import TtlApply
from mlflow_dynamodbstore.lifecycle.ttl import DAY_MS, TRACE_RETENTION_TAG
from mlflow_dynamodbstore.repositories.traces.name_postings import TRACE_NAME_CAP
from mlflow_dynamodbstore.schema import fts_keys
from mlflow_dynamodbstore.schema.fts_keys import FTS_SHARDS
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.fts.helpers import run_cli
from tests.fts.trace_names import build_trace_name_index, enable_trace_names
from tests.integration.lifecycle_helpers import set_policy

WS = "default"


@pytest.fixture
def store(store_uri, monkeypatch):
    """The tracking store with trace names indexed (switched on, index built)."""
    enable_trace_names(monkeypatch)
    tracking = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    build_trace_name_index(tracking)
    return tracking


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


def _trace_postings(gateway) -> dict[tuple[str, str], dict]:
    """Every trace-name posting in the table, with its attributes (a Scan: test code only)."""
    found, start = {}, None
    while True:
        kwargs = {"TableName": gateway.table_name}
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = gateway.client.scan(**kwargs)
        for raw in page["Items"]:
            if raw["PK"]["S"].startswith("FTS#") and "#trace_name#" in raw["PK"]["S"]:
                found[(raw["PK"]["S"], raw["SK"]["S"])] = {
                    k: v.get("N") or v.get("S") for k, v in raw.items() if k not in ("PK", "SK")
                }
        start = page.get("LastEvaluatedKey")
        if not start:
            return found


def _expected(traces, workspace: str = WS) -> set[tuple[str, str]]:
    """Posting keys of (experiment id, trace id, name) traces."""
    keys = []
    for exp, trace_id, name in traces:
        document = postings.Document(workspace, postings.TRACE_NAME, exp, trace_id)
        keys += document.bounded_keys(name, TRACE_NAME_CAP)
    return {(k["PK"], k["SK"]) for k in keys}


def _ops(store) -> dict[str, int]:
    return {name: op.requests for name, op in store.gateway.stats.snapshot().items()}


def test_postings_follow_start_renames_tag_deletes_and_deletes(store):
    gateway = store.gateway.unscoped
    exp = store.create_experiment("e")
    _start(store, exp, "tr-1", "Chat Model 数据 🚀")
    _start(store, exp, "tr-2", "retriever")
    _start(store, exp, "tr-3", None)
    _start(store, exp, "tr-4", "gone soon")
    store.set_trace_tag("tr-2", TraceTagKey.TRACE_NAME, "retriever v2")
    store.set_trace_tag("tr-3", TraceTagKey.TRACE_NAME, "named later")
    store.set_trace_tag("tr-1", "other", "tag")  # not the name: postings unchanged
    store.delete_traces(exp, trace_ids=["tr-4"])
    traces = [(exp, "tr-1", "Chat Model 数据 🚀"), (exp, "tr-2", "retriever v2")]
    traces.append((exp, "tr-3", "named later"))
    assert set(_trace_postings(gateway)) == _expected(traces)

    store.delete_trace_tag("tr-3", TraceTagKey.TRACE_NAME)
    assert set(_trace_postings(gateway)) == _expected(traces[:2])
    store.delete_traces(exp, max_timestamp_millis=10_000)
    assert _trace_postings(gateway) == {}


def test_long_name_is_capped_and_found_through_the_overflow_list(store):
    exp = store.create_experiment("e")
    long_name = "".join(chr(0x4E00 + i) for i in range(400)) + " needle-end"
    _start(store, exp, "tr-long", long_name)
    _start(store, exp, "tr-short", "short needle-end")
    stored = set(_trace_postings(store.gateway.unscoped))
    assert stored == _expected([(exp, "tr-long", long_name), (exp, "tr-short", "short needle-end")])
    assert (fts_keys.overflow_pk(WS, "trace_name", exp), "tr-long") in stored
    assert sum(1 for _, sk in stored if sk == "tr-long") == TRACE_NAME_CAP + 1
    infos, _ = store.search_traces([exp], "name LIKE '%needle-end'")
    assert sorted(i.trace_id for i in infos) == ["tr-long", "tr-short"]
    # renamed to a short name: the capped postings and the overflow entry go
    store.set_trace_tag("tr-long", TraceTagKey.TRACE_NAME, "now short")
    stored = set(_trace_postings(store.gateway.unscoped))
    short = (exp, "tr-short", "short needle-end")
    assert stored == _expected([(exp, "tr-long", "now short"), short])


def test_indexed_trace_search_reads_postings_and_candidates(store):
    exp = store.create_experiment("e")
    for i in range(60):
        _start(store, exp, f"tr-{i:03d}", f"trace-{i:03d}-{'zqx' if i in (7, 42) else 'abc'}", i)
    store.search_traces([exp], "name LIKE '%warm%'")  # readiness is cached
    store.gateway.stats.reset()
    infos, token = store.search_traces([exp], "name LIKE '%zqx%'")
    assert [i.trace_id for i in infos] == ["tr-042", "tr-007"] and token is None
    # one trigram: its posting list (a Query per shard), the overflow list, the candidates
    assert _ops(store) == {"Query": FTS_SHARDS + 1, "BatchGetItem": 1}

    # pages with the index: same tokens as the listing walk would give
    store.gateway.stats.reset()
    first, token = store.search_traces([exp], "name LIKE '%zqx'", max_results=1)
    second, last = store.search_traces([exp], "name LIKE '%zqx'", max_results=1, page_token=token)
    assert [first[0].trace_id, second[0].trace_id] == ["tr-042", "tr-007"]
    assert _ops(store) == {"Query": 2 * (FTS_SHARDS + 1), "BatchGetItem": 2}
    assert store.search_traces([exp], "name LIKE '%zqx'", max_results=1, page_token=last)[0] == []
    # a token pages only the filter that issued it (docs/trace-paging.md)
    with pytest.raises(MlflowException, match="different filter"):
        store.search_traces([exp], "trace.name ILIKE '%ZQX'", max_results=1, page_token=token)

    # a pattern that cannot narrow (2 characters) walks the listing as before
    store.gateway.stats.reset()
    infos, _ = store.search_traces([exp], "name LIKE '%zq%'")
    assert len(infos) == 2 and "BatchGetItem" not in _ops(store)


def test_trace_write_costs(store):
    """A named start_trace is one TransactWriteItems (META and postings) besides the stats
    item's (its rollup cells, docs/trace-analytics.md); a tag that is not the name stays a
    PutItem; a rename is a transaction (and moves the trace's rollup contribution)."""
    exp = store.create_experiment("e")
    store.gateway.stats.reset()
    _start(store, exp, "tr-1", "my trace")
    ops = _ops(store)
    assert ops["TransactWriteItems"] == 2 and "BatchWriteItem" not in ops and "PutItem" not in ops
    store.gateway.stats.reset()
    store.set_trace_tag("tr-1", "k", "v")
    assert "TransactWriteItems" not in _ops(store)
    store.gateway.stats.reset()
    store.set_trace_tag("tr-1", TraceTagKey.TRACE_NAME, "renamed trace")
    assert _ops(store)["TransactWriteItems"] == 2
    store.gateway.stats.reset()
    _start(store, exp, "tr-2", None)
    ops = _ops(store)
    assert ops["PutItem"] == 1 and ops["TransactWriteItems"] == 1  # META; stats and cells


def test_postings_carry_the_trace_ttl_and_follow_ttl_apply(store):
    set_policy(store, trace_retention_days=3)
    exp = store.create_experiment("e")
    _start(store, exp, "tr-1", "kept a while", request_time=1_000_000)
    ttl = str((1_000_000 + 3 * DAY_MS) // 1000)
    stored = _trace_postings(store.gateway.unscoped)
    assert stored and all(attrs == {"ttl": ttl} for attrs in stored.values())

    store.set_experiment_tag(exp, ExperimentTag(TRACE_RETENTION_TAG, "1h"))
    TtlApply(store._conn.gateway, store._conn.settings.current().retention).run()
    ttl = str((1_000_000 + 3_600_000) // 1000)
    stored = _trace_postings(store.gateway.unscoped)
    assert stored and all(attrs == {"ttl": ttl} for attrs in stored.values())


def test_old_tables_ready_marker_does_not_trust_trace_postings(store):
    """Tables of the previous version carry FTS#READY#trace_name without trace postings:
    trace names have their own marker, so such a table takes the full path."""
    gateway = store.gateway.unscoped
    exp = store.create_experiment("e")
    _start(store, exp, "tr-1", "abc zqx")
    READINESS.mark(gateway, postings.TRACE_NAME, False)
    gateway.put_item({"PK": "CONFIG", "SK": "FTS#READY#trace_name", "complete": True})
    try:
        store.gateway.stats.reset()
        infos, _ = store.search_traces([exp], "name LIKE '%zqx%'")
        assert [i.trace_id for i in infos] == ["tr-1"]
        assert "BatchGetItem" not in _ops(store)  # the GSI3 walk, not candidates
    finally:
        READINESS.mark(gateway, postings.TRACE_NAME, True)


def test_backfill_writes_trace_postings_resumably(store, store_uri, monkeypatch):
    monkeypatch.setattr(backfill_module, "PAGE", 3)
    gateway = store.gateway.unscoped
    set_policy(store, trace_retention_days=3)
    exp = store.create_experiment("e")
    for i in range(8):
        _start(store, exp, f"tr-{i}", f"trace {i} {'zqx' if i % 3 == 0 else 'abc'}", 1000 + i)
    _start(store, exp, "tr-long", "".join(chr(0x4E00 + i) for i in range(300)) + "zqx")
    expected = _trace_postings(gateway)
    for pk, sk in expected:
        gateway.delete_item({"PK": pk, "SK": sk})
    for field in backfill_module.FIELDS:
        READINESS.mark(gateway, field, False)

    infos, _ = store.search_traces([exp], "name LIKE '%zqx'")  # not ready: the full path
    assert sorted(i.trace_id for i in infos) == ["tr-0", "tr-3", "tr-6", "tr-long"]

    calls = []

    def interrupt(n: int) -> None:
        calls.append(n)
        if len(calls) == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backfill_fts(gateway, interrupt, settle_seconds=0)
    assert not READINESS.is_ready(gateway, postings.TRACE_NAME)

    dry = run_cli("fts", "backfill", store_uri, "--dry-run", "--json")
    assert json.loads(dry.stdout)["entities"]["trace_name"] == 9

    result = run_cli("fts", "backfill", store_uri, "--json")
    assert json.loads(result.stdout)["resumed"] is True
    assert _trace_postings(gateway) == expected  # with their ttl
    assert READINESS.is_ready(gateway, postings.TRACE_NAME)
    store.gateway.stats.reset()
    infos, _ = store.search_traces([exp], "name LIKE '%zqx'")
    assert sorted(i.trace_id for i in infos) == ["tr-0", "tr-3", "tr-6", "tr-long"]
    assert _ops(store)["BatchGetItem"] == 1


def test_workspace_moves_and_cascade_carry_trace_postings(monkeypatch, store_uri):
    from mlflow.entities.workspace import Workspace, WorkspaceDeletionMode
    from mlflow.utils.workspace_context import WorkspaceContext

    from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider

    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    enable_trace_names(monkeypatch)
    provider = DynamoDBWorkspaceProvider(store_uri)
    tracking = DynamoDBTrackingStore(store_uri, "s3://b/a")
    build_trace_name_index(tracking)
    for n, ws in enumerate(("team-a", "team-b")):
        provider.create_workspace(Workspace(ws))
        with WorkspaceContext(ws):
            exp = tracking.create_experiment(f"{ws} experiment")
            _start(tracking, exp, f"tr-{n}", f"{ws} zqx trace")
    gateway = tracking.gateway.unscoped
    assert {pk.split("#")[1] for pk, _ in _trace_postings(gateway)} == {"team-a", "team-b"}

    provider.delete_workspace("team-a", WorkspaceDeletionMode.SET_DEFAULT)
    provider.delete_workspace("team-b", WorkspaceDeletionMode.CASCADE)
    assert {pk.split("#")[1] for pk, _ in _trace_postings(gateway)} == {"default"}
    with WorkspaceContext("default"):
        [exp] = tracking.search_experiments(filter_string="name = 'team-a experiment'")
        tracking.gateway.stats.reset()
        infos, _ = tracking.search_traces([exp.experiment_id], "name LIKE '%zqx%'")
        assert [i.trace_id for i in infos] == ["tr-0"]
        assert "BatchGetItem" in _ops(tracking)  # through the index


def test_concurrent_renames_leave_exactly_the_last_names_postings(store, store_uri):
    """Renames racing on two stores (servers): META's version condition is in the postings'
    transaction, so the postings always match the name that won."""
    import threading

    exp = store.create_experiment("e")
    _start(store, exp, "tr-1", "start name")
    other = DynamoDBTrackingStore(store_uri, "s3://b/a")

    def rename(s, prefix: str) -> None:
        for i in range(8):
            s.set_trace_tag("tr-1", TraceTagKey.TRACE_NAME, f"{prefix} {i} name-{prefix * 3}")

    racers = ((store, "a"), (other, "b"))
    threads = [threading.Thread(target=rename, args=racer) for racer in racers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    [info] = store.search_traces([exp], "name LIKE '%name%'")[0]
    final = info.tags[TraceTagKey.TRACE_NAME]
    assert set(_trace_postings(store.gateway.unscoped)) == _expected([(exp, "tr-1", final)])
