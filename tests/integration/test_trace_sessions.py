"""Session items (docs/trace-analytics.md, "Sessions"): what session_count and
find_completed_sessions cost does not grow with the experiment's traces; two servers writing
one session lose nothing; the backfill records sessions of traces logged before them;
workspace moves and cascades take the session items along."""

from __future__ import annotations

import threading

import pytest
from boto3.dynamodb.conditions import Key
from mlflow.entities import ExperimentTag
from mlflow.entities.trace_metrics import AggregationType, MetricAggregation, MetricViewType
from mlflow.entities.workspace import Workspace, WorkspaceDeletionMode
from mlflow.utils.workspace_context import WorkspaceContext

from mlflow_dynamodbstore.backfills.trace_stats import backfill_trace_stats
from mlflow_dynamodbstore.lifecycle.ttl import TRACE_RETENTION_TAG
from mlflow_dynamodbstore.repositories.traces.sessions import SessionRepository
from mlflow_dynamodbstore.schema import session_keys
from mlflow_dynamodbstore.search.trace_metrics import query as query_module
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider
from tests.differential_traces.builders import BASE_MS, span, tid

MIN = 60 * 1000
HOUR = 60 * MIN
DAY = 24 * HOUR
TRACES = MetricViewType.TRACES
COUNT = [MetricAggregation(AggregationType.COUNT)]


@pytest.fixture
def store(store_uri, tmp_path):
    return DynamoDBTrackingStore(store_uri, str(tmp_path / "artifacts"))


def _log(store, exp: str, n: int, at_ms: int, session: str | None) -> None:
    attrs = {"session.id": session} if session else None
    store.log_spans(exp, [span(n, 1, None, f"r{n}", at_ms, at_ms + 5, attrs)])


def _session_count(store, exps, **kwargs):
    points = store.query_trace_metrics(exps, TRACES, "session_count", COUNT, **kwargs)
    return [(p.dimensions, p.values) for p in points]


def _exact_session_count(store, monkeypatch, exps, **kwargs):
    """The same query over every stats item of the range (the path before session items)."""
    with monkeypatch.context() as m:
        m.setattr(
            query_module,
            "session_count_rows",
            lambda traces, ids, low, high, _interval: (
                query_module.MetricRow(r["timestamp_ms"] * 1_000_000, r.get("session_id"))
                for r in query_module.TraceRecords(traces).from_stats(ids, low, high)
            ),
        )
        return _session_count(store, exps, **kwargs)


def _completed(store, exp, lo, hi, **kwargs):
    return [
        (s.session_id, s.first_trace_timestamp_ms, s.last_trace_timestamp_ms)
        for s in store.find_completed_sessions(exp, lo, hi, **kwargs)
    ]


WINDOW = {"start_time_ms": BASE_MS + 10 * DAY, "end_time_ms": BASE_MS + 10 * DAY + 6 * HOUR}


def test_cost_does_not_grow_with_the_experiments_traces(store):
    """The window's answer and requests are the same before and after 240 more traces
    (older sessions, traces without a session) are logged outside it."""
    exp = store.create_experiment("cost")
    start = WINDOW["start_time_ms"] - BASE_MS
    for n in range(1, 13):  # 4 sessions in the window, 3 traces each
        _log(store, exp, n, start + n * 20 * MIN, f"recent-{n % 4}")
    stats = store.gateway.stats

    def measured():
        answers, requests = [], []
        for call in (
            lambda: _session_count(store, [exp], **WINDOW),
            lambda: _session_count(store, [exp], time_interval_seconds=3600, **WINDOW),
            lambda: _completed(store, exp, WINDOW["start_time_ms"], WINDOW["end_time_ms"]),
        ):
            stats.reset()
            answers.append(call())
            requests.append(stats.total_requests)
        return answers, requests

    before = measured()
    for n in range(100, 340):  # older traces: 80 sessions of 2, and 80 without a session
        session = f"old-{n % 80}" if n < 260 else None
        _log(store, exp, n, (n % 9) * DAY + n * MIN, session)
    after = measured()
    assert after == before
    assert before[0][0] == [({}, {"COUNT": 4})]
    assert len(before[0][2]) == 4


def test_two_servers_writing_one_session_lose_nothing(store_uri, tmp_path, monkeypatch):
    """Two store instances (two servers) log and delete traces of the same sessions at once:
    every head ends with its members' first and last trace."""
    servers = [DynamoDBTrackingStore(store_uri, str(tmp_path / f"a{i}")) for i in range(2)]
    exp = servers[0].create_experiment("race")
    errors: list[Exception] = []

    def writer(i: int) -> None:
        try:
            for k in range(12):
                n = 1 + i * 100 + k
                _log(servers[i], exp, n, (k * 37 + i * 11) * MIN, f"s{k % 3}")
            servers[i].delete_traces(exp, trace_ids=[tid(1 + i * 100), tid(1 + i * 100 + 11)])
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    store = servers[0]
    everything = {"start_time_ms": BASE_MS, "end_time_ms": BASE_MS + DAY}
    for kwargs in ({}, everything, {**everything, "time_interval_seconds": 3600}):
        assert _session_count(store, [exp], **kwargs) == _exact_session_count(
            store, monkeypatch, [exp], **kwargs
        )
    expected = {}
    for i in range(2):
        for k in range(1, 11):
            ts = BASE_MS + (k * 37 + i * 11) * MIN
            first, last = expected.get(f"s{k % 3}", (ts, ts))
            expected[f"s{k % 3}"] = (min(first, ts), max(last, ts))
    got = _completed(store, exp, 0, BASE_MS + DAY)
    assert {s: (f, last) for s, f, last in got} == expected


def test_backfill_records_sessions_of_older_traces(store, monkeypatch):
    exp = store.create_experiment("legacy")
    for n in range(1, 9):
        _log(store, exp, n, n * 47 * MIN, f"s{n % 3}" if n % 4 else None)
    gateway = store.gateway.unscoped
    # As before session items existed: no member, no head.
    for s in ("s0", "s1", "s2"):
        pk = session_keys.session_pk(exp, s)
        keys = [{"PK": i["PK"], "SK": i["SK"]} for i in gateway.query(Key("PK").eq(pk))]
        gateway.batch_write(deletes=keys)
    assert _session_count(store, [exp]) == [({}, {"COUNT": 0})]
    report = backfill_trace_stats(gateway)
    assert report.sessions == 6
    window = {"start_time_ms": BASE_MS, "end_time_ms": BASE_MS + DAY}
    for kwargs in ({}, window, {**window, "time_interval_seconds": 3600}):
        assert _session_count(store, [exp], **kwargs) == _exact_session_count(
            store, monkeypatch, [exp], **kwargs
        )
    assert [s for s, _, _ in _completed(store, exp, 0, BASE_MS + DAY)] == ["s2", "s0", "s1"]
    assert backfill_trace_stats(gateway).sessions == 6  # a rerun changes nothing
    assert [s for s, _, _ in _completed(store, exp, 0, BASE_MS + DAY)] == ["s2", "s0", "s1"]


def test_write_cost_of_a_session_trace(store):
    """A new trace of a session: the stats transaction (with its member and head), the
    session's Query and the head's UpdateItem; a retried identical log_spans: nothing."""
    exp = store.create_experiment("write")
    stats = store.gateway.stats
    _log(store, exp, 1, 0, "s")
    stats.reset()
    _log(store, exp, 2, HOUR, "s")
    assert stats.requests("TransactWriteItems") == 1
    assert stats.requests("UpdateItem") == 1  # last moved
    stats.reset()
    _log(store, exp, 2, HOUR, "s")
    assert stats.requests("TransactWriteItems") == 0
    assert stats.requests("UpdateItem") == 0


def test_session_items_follow_set_default_and_go_with_cascade(store, store_uri, monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    provider = DynamoDBWorkspaceProvider(store_uri)
    for name in ("team-a", "team-b"):
        provider.create_workspace(Workspace(name=name))
    with WorkspaceContext("team-a"):
        a = store.create_experiment("a")
        for n in range(1, 4):
            _log(store, a, n, n * HOUR, "shared")
    with WorkspaceContext("team-b"):
        b = store.create_experiment("b")
        _log(store, b, 9, 0, "shared")
    provider.delete_workspace("team-a", mode=WorkspaceDeletionMode.SET_DEFAULT)
    gateway = store.gateway.unscoped
    with WorkspaceContext("default"):
        assert _completed(store, a, 0, BASE_MS + DAY) == [
            ("shared", BASE_MS + HOUR, BASE_MS + 3 * HOUR)
        ]
        assert _session_count(store, [a]) == [({}, {"COUNT": 1})]
    items = list(gateway.query(Key("PK").eq(session_keys.session_pk(a, "shared"))))
    assert len(items) == 4 and {i["workspace"] for i in items} == {"default"}
    pk_b = session_keys.session_pk(b, "shared")
    assert len(list(gateway.query(Key("PK").eq(pk_b)))) == 2
    provider.delete_workspace("team-b", mode=WorkspaceDeletionMode.CASCADE)
    assert list(gateway.query(Key("PK").eq(pk_b))) == []


def _bulk_members(store, exp: str, session: str, times_ms: list[int], ttl_s: int) -> None:
    """Members as the stats transaction writes them, put in bulk (logging hundreds of traces
    through the store is slow and not what is measured)."""
    items = [
        {
            **session_keys.member_key(exp, session, BASE_MS + ts, f"bulk-{i}"),
            "trace_id": f"bulk-{i}",
            "timestamp_ms": BASE_MS + ts,
            "ttl": ttl_s,
        }
        for i, ts in enumerate(times_ms)
    ]
    store.gateway.unscoped.batch_write(puts=items)


def _head_item(store, exp: str, session: str) -> dict:
    return store.gateway.unscoped.get_item(session_keys.head_key(exp, session))


def test_a_settle_costs_the_same_for_a_session_of_5_80_or_500_traces(store):
    """A new trace's write (transaction + settle) costs the same requests whatever its
    session's length: sessions of more than 64 members add one one-item Query (their last
    member), never a read of the members."""
    exp = store.create_experiment("long")
    store.set_experiment_tag(exp, ExperimentTag(TRACE_RETENTION_TAG, "30d"))
    stats = store.gateway.stats
    costs = {}
    for size in (5, 80, 500):
        session = f"s{size}"
        _log(store, exp, size, 0, session)  # the head, settled by this release
        if size > 5:
            _bulk_members(store, exp, session, [MIN + k * 1000 for k in range(size - 2)], 7)
        else:
            for k in range(1, size - 1):
                _log(store, exp, size * 1000 + k, MIN + k * 1000, session)
        stats.reset()
        _log(store, exp, size * 1000 + 999, HOUR, session)  # the session's last trace
        costs[size] = (
            stats.requests("Query"),
            stats.requests("TransactWriteItems"),
            stats.requests("UpdateItem"),
            stats.total_requests,
        )
        head = _head_item(store, exp, session)
        assert (int(head["first"]), int(head["last"])) == (BASE_MS, BASE_MS + HOUR)
        # ttl: the latest member's (the new trace: its timestamp + 30 days)
        assert int(head["ttl"]) == (BASE_MS + HOUR + 30 * DAY) // 1000
        assert ("ts" in head) == (size <= 64)
    assert costs[80] == costs[500]
    assert costs[5][0] == 1 and costs[500][0] == 2  # + the last member of a long session
    assert costs[5][1:3] == costs[500][1:3] == (1, 1)
    assert costs[500][3] == costs[5][3] + 1
    got = _completed(store, exp, 0, BASE_MS + DAY)
    assert {s: (f, last) for s, f, last in got} == {
        f"s{n}": (BASE_MS, BASE_MS + HOUR) for n in (5, 80, 500)
    }


def test_a_long_sessions_head_keeps_an_upper_bound_ttl_and_first_and_last(store):
    """Past 64 members the head's ttl only grows (to each new member's), goes once a member
    without one comes; deleting the last trace moves `last` back with 2 one-item reads."""
    exp = store.create_experiment("long-ttl")
    _log(store, exp, 1, 0, "s")
    _bulk_members(store, exp, "s", [MIN + k for k in range(100)], 5)
    store.set_experiment_tag(exp, ExperimentTag(TRACE_RETENTION_TAG, "30d"))
    _log(store, exp, 2, 2 * HOUR, "s")
    # trace 1 has no ttl: the head keeps none (as the first release's exact settle gave)
    assert "ttl" not in _head_item(store, exp, "s")
    stats = store.gateway.stats
    stats.reset()
    store.delete_traces(exp, trace_ids=[tid(2)])
    assert stats.requests("Query") <= 4  # the deletion's own reads + the 2 of the settle
    head = _head_item(store, exp, "s")
    assert (int(head["first"]), int(head["last"])) == (BASE_MS, BASE_MS + MIN + 99)


def test_a_head_settled_by_the_first_release_is_read_whole_once(store):
    """Heads written before this format (no `sv`) of a long session: the next settle reads
    the whole session once (its exact ttl), later ones are bounded again."""
    exp = store.create_experiment("legacy-head")
    _log(store, exp, 1, 0, "s")
    _bulk_members(store, exp, "s", [MIN + k for k in range(150)], 9)
    gateway = store.gateway.unscoped
    key = session_keys.head_key(exp, "s")
    gateway.update_item(key, "REMOVE sv, pt")
    # The trace without ttl is gone (its head kept none): only a whole read gives the
    # head a ttl again, the latest of its members'.
    gateway.delete_item(session_keys.member_key(exp, "s", BASE_MS, tid(1)))
    store.set_experiment_tag(exp, ExperimentTag(TRACE_RETENTION_TAG, "30d"))
    _log(store, exp, 2, HOUR, "s")
    head = _head_item(store, exp, "s")
    assert int(head["ttl"]) == (BASE_MS + HOUR + 30 * DAY) // 1000 and int(head["sv"]) == 2
    assert (int(head["first"]), int(head["last"])) == (BASE_MS + MIN, BASE_MS + HOUR)
    stats = store.gateway.stats
    stats.reset()
    _log(store, exp, 3, 2 * HOUR, "s")
    assert stats.requests("Query") == 2  # bounded again
    assert int(_head_item(store, exp, "s")["ttl"]) == (BASE_MS + 2 * HOUR + 30 * DAY) // 1000


def test_a_crash_before_the_settle_is_settled_by_readers(store, monkeypatch):
    """A server dying between the stats transaction and the settle: readers that meet the
    head unsettled settle it (a new session is listed at its first trace from the start),
    and answer as if the writer had."""
    exp = store.create_experiment("crash")
    _log(store, exp, 1, 0, "old")
    with monkeypatch.context() as m:
        m.setattr(SessionRepository, "settle", lambda self, sessions: None)  # the crash
        _log(store, exp, 2, 10 * MIN, "old")  # extends a session
        _log(store, exp, 3, 20 * MIN, "new")  # starts one
    for s in ("old", "new"):
        head = _head_item(store, exp, s)
        assert head["tok"] != head.get("stok")
    assert _completed(store, exp, 0, BASE_MS + DAY) == [
        ("old", BASE_MS, BASE_MS + 10 * MIN),
        ("new", BASE_MS + 20 * MIN, BASE_MS + 20 * MIN),
    ]
    for s in ("old", "new"):
        head = _head_item(store, exp, s)
        assert head["tok"] == head["stok"]
    _log(store, exp, 4, 30 * MIN, "later")
    with monkeypatch.context() as m:
        m.setattr(SessionRepository, "settle", lambda self, sessions: None)
        store.delete_traces(exp, trace_ids=[tid(3)])  # empties "new"
    window = {"start_time_ms": BASE_MS + 15 * MIN, "end_time_ms": BASE_MS + DAY}
    assert _session_count(store, [exp], **window) == [({}, {"COUNT": 1})]
    assert _head_item(store, exp, "new") is None  # its reader deleted the emptied head
    assert _session_count(store, [exp]) == [({}, {"COUNT": 2})]
