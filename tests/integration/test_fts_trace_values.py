"""Trace tag and request metadata values in the trigram index (``trace_tag_value``,
``trace_metadata_value``; opt-in): postings follow start_trace, set_trace_tag (overwrite),
delete_trace_tag, log_spans, delete_traces, the trace's ttl (and ``ttl apply``), experiment
purge; ``mlflow.*`` keys are not indexed; an indexed search's reads do not grow with the
experiment's traces; the write overhead per tag write; switched on by the environment the
fields stay unready (searches walk) until ``fts backfill`` has built the postings of traces
written before."""

from __future__ import annotations

import json
import threading

import pytest
from mlflow.entities import ExperimentTag, TraceInfo, TraceLocation, TraceState

from mlflow_dynamodbstore.backfills.fts import backfill_fts
from mlflow_dynamodbstore.config.settings import FTS_TRIGRAM_FIELDS_ENV
from mlflow_dynamodbstore.config.source import REFRESH_SECONDS_ENV
from mlflow_dynamodbstore.fts.field_postings import (
    TRACE_METADATA_VALUE,
    TRACE_TAG_VALUE,
    TRACE_VALUE_FIELDS,
    VALUE_CAP,
)
from mlflow_dynamodbstore.fts.lookup import READINESS
from mlflow_dynamodbstore.lifecycle.ttl import TRACE_RETENTION_TAG
from mlflow_dynamodbstore.repositories.traces import value_postings
from mlflow_dynamodbstore.schema import fts_keys, trace_value_keys
from mlflow_dynamodbstore.schema.fts_keys import FTS_SHARDS
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.differential_traces.builders import simple_trace, tid
from tests.fts.helpers import refresh_settings_now, run_cli
from tests.fts.tag_value_postings import request_counts, requests_but_getitem, stored_postings

LONG = "".join(chr(0x4E00 + i) for i in range(VALUE_CAP + 50)) + "-tail"
BOTH = ",".join(TRACE_VALUE_FIELDS)
_ops, _reads = request_counts, requests_but_getitem


def _postings(gateway, with_ttl: bool = False) -> set:
    """Every trace value posting in the table (a Scan: test code only)."""
    found = stored_postings(gateway, TRACE_TAG_VALUE) | stored_postings(
        gateway, TRACE_METADATA_VALUE
    )
    if not with_ttl:
        return found
    return {(pk, sk, _ttl(gateway, pk, sk)) for pk, sk in found}


def _ttl(gateway, pk: str, sk: str):
    item = gateway.get_item({"PK": pk, "SK": sk})
    return None if item.get("ttl") is None else int(item["ttl"])


def _expected(*traces: tuple[str, str, dict, dict], ttl=None, with_ttl: bool = False) -> set:
    """Postings of (trace id, experiment id, tags, metadata)."""
    out = set()
    for trace_id, exp, tags, metadata in traces:
        meta = {"trace_id": trace_id, "experiment_id": exp, "tags": tags, "metadata": metadata}
        for k in value_postings.posting_keys(meta, TRACE_VALUE_FIELDS):
            out.add((k["PK"], k["SK"], ttl) if with_ttl else (k["PK"], k["SK"]))
    return out


def _start(store, n: int, exp: str, tags=None, metadata=None, at: int = 1000) -> str:
    store.start_trace(
        TraceInfo(
            trace_id=tid(n),
            trace_location=TraceLocation.from_experiment_id(exp),
            request_time=at,
            execution_duration=5,
            state=TraceState.OK,
            tags=tags or {},
            trace_metadata=metadata or {},
        )
    )
    return tid(n)


def _ids(store, exps: list[str], flt: str, **kwargs) -> list[str]:
    infos, _token = store.search_traces(exps, flt, **kwargs)
    return [i.trace_id for i in infos]


@pytest.fixture
def indexed(monkeypatch, store_uri):
    """A store with both trace value fields switched on by the env and built (new table)."""
    monkeypatch.setenv(FTS_TRIGRAM_FIELDS_ENV, BOTH)
    store = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    backfill_fts(store.gateway.unscoped, settle_seconds=0)
    for field in TRACE_VALUE_FIELDS:
        assert READINESS.is_ready(store.gateway.unscoped, field)
    return store


def test_postings_follow_every_trace_write(indexed):
    store, gateway = indexed, indexed.gateway.unscoped
    exp = store.create_experiment("e")
    system = {"mlflow.user": "someone", "mlflow.source.name": "train.py"}  # never indexed
    a = _start(
        store,
        1,
        exp,
        {"team": "Résumé 数据 🚀", "mlflow.traceName": "predict", **system},
        {"env": "production-eu", **system},
    )
    b = _start(store, 2, exp, {"note": LONG})
    want = [
        (a, exp, {"team": "Résumé 数据 🚀"}, {"env": "production-eu"}),
        (b, exp, {"note": LONG}, {}),
    ]
    stored = _postings(gateway)
    assert stored == _expected(*want)
    overflow = fts_keys.overflow_pk(
        trace_value_keys.ANY_WORKSPACE, TRACE_TAG_VALUE, trace_value_keys.value_scope(exp, "note")
    )
    assert (overflow, b) in stored
    assert not any("mlflow." in pk for pk, _ in stored)

    store.set_trace_tag(a, "team", "résumé v2")  # an overwrite moves only what differs
    store.set_trace_tag(b, "note", "short now")
    store.set_trace_tag(b, "mlflow.user", "x")  # a system key: nothing written
    store.delete_trace_tag(a, "team")
    want = [(a, exp, {}, {"env": "production-eu"}), (b, exp, {"note": "short now"}, {})]
    assert _postings(gateway) == _expected(*want)

    # log_spans of a new trace: no user values; of a known one: its values stay
    store.log_spans(exp, simple_trace(3))
    store.log_spans(exp, simple_trace(2))
    assert _postings(gateway) == _expected(*want)

    store.delete_traces(exp, trace_ids=[a])
    assert _postings(gateway) == _expected(want[1])
    assert _ids(store, [exp], "tags.note LIKE '%ort no%'") == [b]
    store.delete_traces(exp, max_timestamp_millis=10**13)
    assert _postings(gateway) == set()


def test_postings_carry_the_traces_ttl_and_follow_ttl_apply_and_purge(indexed):
    from mlflow_dynamodbstore.lifecycle.apply import TtlApply
    from tests.integration.lifecycle_helpers import set_policy

    store, gateway = indexed, indexed.gateway.unscoped
    exp = store.create_experiment("e")
    store.set_experiment_tag(exp, ExperimentTag(TRACE_RETENTION_TAG, "1h"))
    t = _start(store, 1, exp, {"team": "vision"}, {"env": "prod"}, at=1_000_000)
    hour = (1_000_000 + 3_600_000) // 1000
    traces = (t, exp, {"team": "vision"}, {"env": "prod"})
    assert _postings(gateway, with_ttl=True) == _expected(traces, ttl=hour, with_ttl=True)

    # the experiment's tag gone and a table policy of 2 days: ttl apply moves every ttl
    store.delete_experiment_tag(exp, TRACE_RETENTION_TAG)
    policy = set_policy(store, trace_retention_days=2)
    TtlApply(store._conn.gateway, policy).run()
    days = (1_000_000 + 2 * 86_400_000) // 1000
    assert int(gateway.get_item({"PK": f"TRACE#{t}", "SK": "META"})["ttl"]) == days
    assert _postings(gateway, with_ttl=True) == _expected(traces, ttl=days, with_ttl=True)

    # an experiment purged (mlflow gc): its traces' postings go before their partitions
    from mlflow_dynamodbstore.lifecycle.purge import purge_experiment

    store.delete_experiment(exp)
    purge_experiment(gateway, "default", exp, "e")
    assert _postings(gateway) == set()


def test_indexed_search_reads_do_not_grow_with_the_traces(indexed):
    store = indexed
    exp = store.create_experiment("e")
    counts = []
    n = 0
    for size in (40, 120):
        while n < size:
            n += 1
            team = "team-kvq" if n in (7, 33) else f"team-{n % 5}-abc"
            _start(store, n, exp, {"team": team}, {"env": f"env-{n:03d}"}, at=1000 + n)
        _ids(store, [exp], "tags.team LIKE '%warm%'")  # settings and readiness read once
        store.gateway.stats.reset()
        assert _ids(store, [exp], "tags.team ILIKE '%KVQ%'") == [tid(33), tid(7)]
        counts.append(_reads(store))
    # one posting list (a Query per shard), the key's overflow list, the 2 candidates
    assert counts == [{"Query": FTS_SHARDS + 1, "BatchGetItem": 1}] * 2

    store.gateway.stats.reset()
    assert _ids(store, [exp], "metadata.env = 'env-101'") == [tid(101)]
    # its trigrams are common ones (env, nv-, -10…) but for 101: at most 3 lists read
    assert _reads(store) == {"Query": 3 * FTS_SHARDS + 1, "BatchGetItem": 1}

    # paging over the candidates, with the listing path's tokens
    infos, token = store.search_traces([exp], "tags.team LIKE '%kvq'", max_results=1)
    assert [i.trace_id for i in infos] == [tid(33)] and token
    infos, token = store.search_traces(
        [exp], "tags.team LIKE '%kvq'", max_results=1, page_token=token
    )
    assert [i.trace_id for i in infos] == [tid(7)]

    store.gateway.stats.reset()  # too short to narrow: the listing walk
    assert len(_ids(store, [exp], "tags.team LIKE '%vq%'", max_results=500)) == 2
    assert "BatchGetItem" not in _ops(store)
    store.gateway.stats.reset()  # a system key: the listing walk
    _ids(store, [exp], "tags.`mlflow.user` LIKE '%someone%'")
    assert "BatchGetItem" not in _ops(store)


def test_write_overhead_per_tag_write(monkeypatch, store_uri):
    """Off: set_trace_tag is META's GetItem + PutItem. On: the same GetItem and one
    TransactWriteItems of META and the changed postings (no extra request)."""
    monkeypatch.setenv(REFRESH_SECONDS_ENV, "0.1")
    store = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    exp = store.create_experiment("e")
    value = "abcdefghijklmnopqrst"  # 20 characters: 18 distinct trigrams
    t = _start(store, 1, exp)
    store.gateway.stats.reset()
    store.set_trace_tag(t, "k1", value)
    off = _reads(store)
    assert off == {"PutItem": 1}

    run_cli("fts", "add", store_uri, TRACE_TAG_VALUE)
    refresh_settings_now(store)
    store._conn.settings.current()
    store.gateway.stats.reset()
    store.set_trace_tag(t, "k2", value)
    assert _reads(store) == {"TransactWriteItems": 1}
    assert _postings(store.gateway.unscoped) == _expected((t, exp, {"k2": value}, {}))
    assert len(_expected((t, exp, {"k2": value}, {}))) == 18
    store.gateway.stats.reset()
    store.delete_trace_tag(t, "k2")
    assert _reads(store) == {"TransactWriteItems": 1}
    assert _postings(store.gateway.unscoped) == set()

    # start_trace with a tag: META's PutItem becomes a TransactWriteItems, nothing more
    store.gateway.stats.reset()
    _start(store, 2, exp)
    plain = _reads(store)
    store.gateway.stats.reset()
    _start(store, 3, exp, {"k": value})
    tagged = _reads(store)
    assert tagged == {
        **{k: v for k, v in plain.items() if k != "PutItem"},
        "TransactWriteItems": plain.get("TransactWriteItems", 0) + 1,
    }
    # a write that changes no indexed value stays a PutItem
    store.gateway.stats.reset()
    store.set_trace_tag(tid(3), "mlflow.user", "me")
    assert _reads(store) == {"PutItem": 1}


def test_switched_on_by_env_is_unready_until_the_backfill(monkeypatch, store_uri):
    first = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    exp = first.create_experiment("e")
    first.set_experiment_tag(exp, ExperimentTag(TRACE_RETENTION_TAG, "1h"))
    old = _start(first, 1, exp, {"team": "vision-zqx"}, {"env": "old-zqx"}, at=2_000_000)
    monkeypatch.setenv(FTS_TRIGRAM_FIELDS_ENV, BOTH)
    monkeypatch.setenv(REFRESH_SECONDS_ENV, "0.1")
    from mlflow_dynamodbstore.stores import connection

    monkeypatch.setattr(connection, "_connections", {})  # a second server, its own env
    second = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    gateway = second.gateway.unscoped
    for field in TRACE_VALUE_FIELDS:
        marker = gateway.get_item(fts_keys.ready_key(field))
        assert marker["complete"] is False and marker["changed_at"] > 0
    new = _start(second, 2, exp, {"team": "audio-zqx"}, at=2_000_001)
    assert _postings(gateway) == _expected((new, exp, {"team": "audio-zqx"}, {}))

    READINESS.forget()
    second.gateway.stats.reset()
    assert _ids(second, [exp], "tags.team LIKE '%zqx'") == [new, old]
    assert "BatchGetItem" not in _ops(second)  # unready: the listing walk

    dry = json.loads(run_cli("fts", "backfill", store_uri, "--dry-run", "--json").stdout)
    assert dry["entities"][BOTH.replace(",", "+")] == 2
    report = json.loads(
        run_cli("fts", "backfill", store_uri, "--settle-seconds", "0", "--json").stdout
    )
    assert report["entities"][BOTH.replace(",", "+")] == 2
    hour = (2_000_000 + 3_600_000) // 1000
    assert _postings(gateway, with_ttl=True) == _expected(
        (old, exp, {"team": "vision-zqx"}, {"env": "old-zqx"}),
        (new, exp, {"team": "audio-zqx"}, {}),
        ttl=hour,
        with_ttl=True,
    )
    READINESS.forget()
    second.gateway.stats.reset()
    assert _ids(second, [exp], "tags.team LIKE '%zqx'") == [new, old]
    assert _ops(second).get("BatchGetItem") == 1  # through the index
    assert _ids(second, [exp], "request_metadata.env ILIKE 'OLD-%'") == [old]


def test_backfill_interrupted_then_resumed_is_exact(indexed, store_uri, monkeypatch):
    from mlflow_dynamodbstore.backfills import fts as backfill_module

    monkeypatch.setattr(backfill_module, "PAGE", 3)
    store, gateway = indexed, indexed.gateway.unscoped
    exps = [store.create_experiment(x) for x in ("a", "b")]
    for n in range(1, 12):
        _start(store, n, exps[n % 2], {"team": f"team-{n}-zqx"}, {"env": f"env {n} zqx"})
    expected = _postings(gateway)
    assert len({sk for _pk, sk in expected}) == 11
    gateway.batch_write(deletes=[{"PK": pk, "SK": sk} for pk, sk in expected])
    for field in TRACE_VALUE_FIELDS:
        READINESS.mark(gateway, field, False)  # a table whose traces predate the fields

    def interrupt(_n: int) -> None:
        if _postings(gateway):  # some pages of trace values written
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backfill_fts(gateway, interrupt, settle_seconds=0)
    partial = _postings(gateway)
    assert partial and partial < expected
    assert not READINESS.is_ready(gateway, TRACE_TAG_VALUE)

    report = json.loads(
        run_cli("fts", "backfill", store_uri, "--settle-seconds", "0", "--json").stdout
    )
    assert report["resumed"] is True
    assert _postings(gateway) == expected
    READINESS.forget()
    assert all(READINESS.is_ready(gateway, f) for f in TRACE_VALUE_FIELDS)
    assert _ids(store, exps, "tags.team LIKE '%-7-zq%'") == [tid(7)]


def test_concurrent_tag_writes_leave_exactly_the_last_values_postings(indexed, store_uri):
    """Two servers setting the same trace tag: META's version is in the transaction's
    condition, so the postings always match the value that won."""
    exp = indexed.create_experiment("e")
    t = _start(indexed, 1, exp, {"k": "start"})
    other = DynamoDBTrackingStore(store_uri, "s3://b/a")

    def write(store, prefix: str) -> None:
        for i in range(8):
            store.set_trace_tag(t, "k", f"{prefix} {i} v-{prefix * 3}")

    threads = [threading.Thread(target=write, args=r) for r in ((indexed, "a"), (other, "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = indexed.get_trace_info(t).tags["k"]
    assert _postings(indexed.gateway.unscoped) == _expected((t, exp, {"k": final}, {}))


def test_workspaces_see_only_their_traces_and_keep_postings_through_moves(monkeypatch, store_uri):
    from mlflow.entities.workspace import Workspace, WorkspaceDeletionMode
    from mlflow.utils.workspace_context import WorkspaceContext

    from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider

    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    monkeypatch.setenv(FTS_TRIGRAM_FIELDS_ENV, BOTH)
    provider = DynamoDBWorkspaceProvider(store_uri)
    tracking = DynamoDBTrackingStore(store_uri, "s3://b/a")
    gateway = tracking.gateway.unscoped
    backfill_fts(gateway, settle_seconds=0)
    traces = {}
    for n, ws in enumerate(("team-a", "team-b"), start=1):
        provider.create_workspace(Workspace(ws))
        with WorkspaceContext(ws):
            exp = tracking.create_experiment(f"{ws} experiment")
            traces[ws] = (_start(tracking, n, exp, {"note": f"{ws}-zqx"}), exp)
    for ws, (trace_id, _exp) in traces.items():
        with WorkspaceContext(ws):  # no experiment ids: every experiment of the workspace
            tracking.gateway.stats.reset()
            assert _ids(tracking, None, "tags.note LIKE '%zqx'") == [trace_id]
            assert _ops(tracking).get("BatchGetItem") == 1  # through the index
            other = traces["team-b" if ws == "team-a" else "team-a"][1]
            # another workspace's experiment is not searched (as with the field off)
            assert _ids(tracking, [other], "tags.note LIKE '%zqx'") == []

    provider.delete_workspace("team-a", WorkspaceDeletionMode.SET_DEFAULT)  # nothing moves
    provider.delete_workspace("team-b", WorkspaceDeletionMode.CASCADE)
    a_trace, a_exp = traces["team-a"]
    assert _postings(gateway) == _expected((a_trace, a_exp, {"note": "team-a-zqx"}, {}))
    with WorkspaceContext("default"):
        assert _ids(tracking, [a_exp], "tags.note LIKE '%zqx'") == [a_trace]


def test_aws_write_units_per_tag_write(monkeypatch, store_uri):
    """What a tag write costs on AWS's rules (gateway/aws_write_units.py): with the field on,
    META's table units double (a transaction) and each posting costs 2; its index entries
    cost as before."""
    from mlflow_dynamodbstore.gateway.aws_write_units import AwsWriteUnits
    from mlflow_dynamodbstore.schema import table

    monkeypatch.setenv(REFRESH_SECONDS_ENV, "0.1")
    store = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    meter = AwsWriteUnits(table.index_key_attributes())
    store.gateway.observers.append(meter.observe)
    exp = store.create_experiment("e")
    t = _start(store, 1, exp, {"mlflow.traceName": "predict"})  # META known to the meter
    value = "abcdefghijklmnopqrst"  # 20 characters: 18 distinct trigrams
    meter.reset()
    store.set_trace_tag(t, "k1", value)
    off = meter.snapshot()
    assert off.items == 1 and off.table >= 1  # a small META: 1 + 1 per listing (5 in all)

    run_cli("fts", "add", store_uri, TRACE_TAG_VALUE)
    refresh_settings_now(store)
    store._conn.settings.current()
    meter.reset()
    store.set_trace_tag(t, "k2", value)
    on = meter.snapshot()
    assert on.items == 1 + 18
    assert on.table == 2 * off.table + 2 * 18  # META transactional + 18 postings
    assert on.indexes == off.indexes  # META's listing entries: unchanged
    meter.reset()
    store.delete_trace_tag(t, "k2")
    deleted = meter.snapshot()
    assert deleted.items == 1 + 18 and deleted.table == 2 * off.table + 2 * 18
