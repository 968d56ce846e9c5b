"""Trace rollup cells on DynamoDB Local: what an overview chart costs, that the cells equal
the exact path over the stats items after every kind of write (retries, races, renames,
deletions, legacy stats items) and follow the experiment through workspace moves and
deletions (docs/trace-analytics.md, "Rollups")."""

from __future__ import annotations

import random
import threading

import pytest
from mlflow.entities.trace_metrics import AggregationType, MetricAggregation, MetricViewType
from mlflow.entities.workspace import Workspace, WorkspaceDeletionMode
from mlflow.utils.workspace_context import WorkspaceContext

from mlflow_dynamodbstore.repositories.traces import rollups
from mlflow_dynamodbstore.repositories.traces.stats import stats_item
from mlflow_dynamodbstore.schema import analytics_keys, trace_rollup_keys
from mlflow_dynamodbstore.search.trace_metrics import query as query_module
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider
from tests.differential_traces.builders import BASE_MS, span, tid

HOUR = 3600 * 1000
DAY = 24 * HOUR
TRACES = MetricViewType.TRACES
COUNT = [MetricAggregation(AggregationType.COUNT)]
SUM_AVG = [MetricAggregation(AggregationType.SUM), MetricAggregation(AggregationType.AVG)]


@pytest.fixture
def store(store_uri, tmp_path):
    return DynamoDBTrackingStore(store_uri, str(tmp_path / "artifacts"))


def _log(store, exp: str, n: int, at_ms: int, *, tokens: int | None = None, error=False):
    attrs = None
    if tokens is not None:
        usage = {"input_tokens": tokens, "output_tokens": 1, "total_tokens": tokens + 1}
        attrs = {"mlflow.chat.tokenUsage": usage}
    store.log_spans(exp, [span(n, 1, None, f"root{n}", at_ms, at_ms + 10 * n, attrs, error=error)])


def _overview(store, experiments, **window) -> dict:
    def ask(metric, aggregations, **kwargs):
        points = store.query_trace_metrics(experiments, TRACES, metric, aggregations, **kwargs)
        return [(p.dimensions, p.values) for p in points]

    # An interval needs both ends of the range (as in SQL).
    daily = {"time_interval_seconds": 86400} if len(window) == 2 else {}
    hourly = {"time_interval_seconds": 3600} if len(window) == 2 else {}
    return {
        "count_daily_status": ask(
            "trace_count", COUNT, dimensions=["trace_status"], **daily, **window
        ),
        "count_hourly_name": ask(
            "trace_count", COUNT, dimensions=["trace_name"], **hourly, **window
        ),
        "latency_avg": ask("latency", [MetricAggregation(AggregationType.AVG)], **window),
        "tokens_daily": ask("total_tokens", SUM_AVG, **daily, **window),
        "input_by_name": ask("input_tokens", SUM_AVG, dimensions=["trace_name"], **window),
        "errors": ask("trace_count", COUNT, filters=["trace.status = 'ERROR'"], **window),
    }  # fmt: skip


def _exact(store, monkeypatch, experiments, **window) -> dict:
    with monkeypatch.context() as m:
        m.setattr(query_module, "plan_rollup", lambda *a, **k: None)
        return _overview(store, experiments, **window)


WINDOWS = [
    {},
    {"start_time_ms": BASE_MS + 3 * HOUR + 17, "end_time_ms": BASE_MS + 2 * DAY + 5},
    {"start_time_ms": BASE_MS - BASE_MS % HOUR, "end_time_ms": BASE_MS + 3 * DAY - 1},
]


def test_cells_equal_the_exact_path_after_every_kind_of_write(store, monkeypatch):
    rng = random.Random(5)
    exp = store.create_experiment("mixed")
    for n in range(1, 61):
        _log(store, exp, n, rng.randrange(3 * DAY), tokens=rng.choice([None, rng.randrange(99)]),
             error=rng.random() < 0.2)  # fmt: skip
        if n % 3:
            store.set_trace_tag(tid(n), "mlflow.traceName", rng.choice(["a", "b"]))
    for n in rng.sample(range(1, 61), 10):  # clients retrying log_spans with other payloads
        _log(store, exp, n, rng.randrange(3 * DAY), tokens=rng.randrange(50))
    store.delete_traces(exp, trace_ids=[tid(n) for n in rng.sample(range(1, 61), 8)])
    store.delete_traces(exp, max_timestamp_millis=BASE_MS + 5 * HOUR)
    for window in WINDOWS:
        assert _overview(store, [exp], **window) == _exact(store, monkeypatch, [exp], **window)


def test_a_lost_answer_retried_counts_once(store):
    """The transaction went through but the caller did not hear it: the same stats write
    again finds its marker and writes nothing; an older one never moves the cells."""
    exp = store.create_experiment("retry")
    _log(store, exp, 1, 0, tokens=5)
    meta = store.traces.get(tid(1))
    stats = store.gateway.stats
    stats.reset()
    assert store.traces.stats.put(meta) is False
    assert store.traces.stats.put({**meta, "version": 1, "execution_time_ms": 9}) is False
    assert stats.requests("TransactWriteItems") == 0
    points = store.query_trace_metrics([exp], TRACES, "trace_count", COUNT)
    assert points[0].values == {"COUNT": 1}


def test_concurrent_writers_of_one_cell_lose_nothing(store):
    """Eight servers logging traces of the same hour: ADD updates, no read-modify-write."""
    exp = store.create_experiment("race")
    errors = []

    def writer(first: int) -> None:
        try:
            for n in range(first, first + 5):
                _log(store, exp, n, 1000 + n, tokens=n)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(1 + 5 * i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    points = store.query_trace_metrics([exp], TRACES, "input_tokens", SUM_AVG)
    assert points[0].values["SUM"] == sum(range(1, 41))
    assert store.query_trace_metrics([exp], TRACES, "trace_count", COUNT)[0].values == {"COUNT": 40}


def test_legacy_stats_items_count_after_the_backfill_and_delete_cleanly(store, monkeypatch):
    exp = store.create_experiment("legacy")
    for n in range(1, 6):
        _log(store, exp, n, n * HOUR, tokens=n)
    gateway = store.gateway.unscoped
    # As written before rollups: stats items without the marker, no cells.
    cells = rollups.experiment_cell_keys(gateway, exp)
    gateway.batch_write(deletes=cells)
    for n in range(1, 6):
        gateway.put_item(stats_item(store.traces.get(tid(n))))
    assert store.query_trace_metrics([exp], TRACES, "trace_count", COUNT)[0].values == {"COUNT": 0}
    store.delete_traces(exp, trace_ids=[tid(1)])  # uncounted: subtracts nothing
    for n in range(2, 6):
        assert store.traces.stats.put(store.traces.get(tid(n))) is True
    assert _overview(store, [exp]) == _exact(store, monkeypatch, [exp])
    assert store.query_trace_metrics([exp], TRACES, "trace_count", COUNT)[0].values == {"COUNT": 4}


def test_an_aligned_overview_reads_only_cells_and_costs_the_same_at_twice_the_traces(store):
    exp = store.create_experiment("cost")
    start = BASE_MS - BASE_MS % DAY
    window = {"start_time_ms": start, "end_time_ms": start + 7 * DAY - 1}
    periods = (
        analytics_keys.stats_period(window["end_time_ms"])
        - analytics_keys.stats_period(window["start_time_ms"])
        + 1
    )
    cell_reads = periods * trace_rollup_keys.ROLLUP_SHARDS
    stats = store.gateway.stats
    for batch in (range(1, 31), range(31, 61)):
        for n in batch:
            _log(store, exp, n, (start - BASE_MS) + n * 5 * HOUR + n, tokens=n)
        for metric, aggregations, dims in (
            ("trace_count", COUNT, ["trace_status"]),
            ("total_tokens", SUM_AVG, None),
            ("latency", [MetricAggregation(AggregationType.AVG)], ["trace_name"]),
        ):
            stats.reset()
            store.query_trace_metrics(
                [exp], TRACES, metric, aggregations, dimensions=dims,
                time_interval_seconds=86400, **window,
            )  # fmt: skip
            assert stats.requests("Query") == stats.total_requests == cell_reads


def test_write_cost_of_a_trace(store):
    """log_spans of a new trace: the stats item and its cell in one transaction; a retried
    identical log_spans writes no stats item and moves no cell."""
    exp = store.create_experiment("write")
    stats = store.gateway.stats
    stats.reset()
    _log(store, exp, 1, 0, tokens=3)
    assert stats.requests("TransactWriteItems") == 1
    stats.reset()
    _log(store, exp, 1, 0, tokens=3)
    assert stats.requests("TransactWriteItems") == 0


def test_cells_follow_set_default_and_go_with_cascade(store, store_uri, monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    provider = DynamoDBWorkspaceProvider(store_uri)
    for name in ("team-a", "team-b"):
        provider.create_workspace(Workspace(name=name))
    with WorkspaceContext("team-a"):
        a = store.create_experiment("a")
        for n in range(1, 4):
            _log(store, a, n, n * HOUR, tokens=n)
    with WorkspaceContext("team-b"):
        b = store.create_experiment("b")
        _log(store, b, 9, 0, tokens=1)
    provider.delete_workspace("team-a", mode=WorkspaceDeletionMode.SET_DEFAULT)
    gateway = store.gateway.unscoped
    with WorkspaceContext("default"):
        assert _overview(store, [a]) == _exact(store, monkeypatch, [a])
        assert store.query_trace_metrics([a], TRACES, "trace_count", COUNT)[0].values == {
            "COUNT": 3
        }
    assert {c["workspace"] for c in _cells(gateway, a)} == {"default"}
    assert _cells(gateway, b)
    provider.delete_workspace("team-b", mode=WorkspaceDeletionMode.CASCADE)
    assert _cells(gateway, b) == []


def _cells(gateway, experiment_id: str) -> list[dict]:
    low, high = BASE_MS - DAY, BASE_MS + DAY
    return list(rollups.TraceRollupRepository(gateway).cells(experiment_id, low, high))
