"""Span cost rollup cells on DynamoDB Local: what a cost chart costs (the same at twice the
traces), racing retries counting once, a trace write staying one transaction, the cells
following the experiment through workspace moves and deletions, and older stats items
counted by the backfill's put (docs/trace-analytics.md, "Span cost per model from cells")."""

from __future__ import annotations

import threading

import pytest
from mlflow.entities import SpanType
from mlflow.entities.trace_metrics import AggregationType, MetricAggregation, MetricViewType
from mlflow.entities.workspace import Workspace, WorkspaceDeletionMode
from mlflow.tracing.constant import SpanAttributeKey
from mlflow.utils.workspace_context import WorkspaceContext

from mlflow_dynamodbstore.repositories.traces import cost_rollups
from mlflow_dynamodbstore.schema import analytics_keys, cost_rollup_keys
from mlflow_dynamodbstore.search.trace_metrics import query as query_module
from mlflow_dynamodbstore.search.trace_metrics.cost_rollups import LOOKBACK_MS
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider
from tests.differential_traces.builders import BASE_MS, span, tid

HOUR = 3600 * 1000
DAY = 24 * HOUR
SPANS = MetricViewType.SPANS
SUM = [MetricAggregation(AggregationType.SUM)]
MODELS = [("gpt-4o", "openai"), ("claude", "anthropic"), ("gpt-4o-mini", "openai")]


@pytest.fixture
def store(store_uri, tmp_path):
    return DynamoDBTrackingStore(store_uri, str(tmp_path / "artifacts"))


def _log(store, exp: str, n: int, at_ms: int) -> None:
    model, provider = MODELS[n % 3]
    cost = {"input_cost": n / 8, "output_cost": n / 16, "total_cost": 3 * n / 16}
    llm = {
        "mlflow.spanType": SpanType.LLM,
        SpanAttributeKey.LLM_COST: cost,
        SpanAttributeKey.MODEL: model,
        SpanAttributeKey.MODEL_PROVIDER: provider,
    }
    store.log_spans(
        exp,
        [
            span(n, 1, None, "agent", at_ms, at_ms + 100 + n),
            span(n, 2, 1, "llm", at_ms + 1, at_ms + 50, llm),
        ],
    )


def _charts(store, experiments, **window) -> dict:
    def ask(dim, **kwargs):
        points = store.query_trace_metrics(
            experiments, SPANS, "total_cost", SUM, dimensions=[dim], **window, **kwargs
        )
        return [(p.dimensions, p.values) for p in points]

    return {
        dim: (ask(dim), ask(dim, time_interval_seconds=86400))
        for dim in ("span_model_name", "span_model_provider")
    }


def _exact(store, monkeypatch, experiments, **window) -> dict:
    with monkeypatch.context() as m:
        m.setattr(query_module, "plan_cost_rollup", lambda *a, **k: None)
        return _charts(store, experiments, **window)


def _cells(gateway, experiment_id: str) -> list[dict]:
    return list(cost_rollups.read_cells(gateway, experiment_id, BASE_MS - DAY, BASE_MS + 4 * DAY))


WINDOW = {"start_time_ms": BASE_MS - BASE_MS % HOUR, "end_time_ms": BASE_MS + 3 * DAY - 1}


def test_a_cost_chart_reads_only_cells_and_costs_the_same_at_twice_the_traces(store):
    exp = store.create_experiment("cost")
    start = BASE_MS - BASE_MS % DAY
    window = {"start_time_ms": start, "end_time_ms": start + 7 * DAY - 1}
    # The cells of the range, and of the day before it ("not summed" traces are looked for
    # there, as the exact path looks back): its 30-day periods x 4 shards.
    periods = (
        analytics_keys.stats_period(window["end_time_ms"])
        - analytics_keys.stats_period(window["start_time_ms"] - LOOKBACK_MS)
        + 1
    )
    cell_reads = periods * cost_rollup_keys.COST_ROLLUP_SHARDS
    stats = store.gateway.stats
    for batch in (range(1, 21), range(21, 41)):
        for n in batch:
            _log(store, exp, n, (start - BASE_MS) + n * 4 * HOUR + n)
        for dim in ("span_model_name", "span_model_provider"):
            for bucket in ({}, {"time_interval_seconds": 86400}, {"time_interval_seconds": 3600}):
                stats.reset()
                store.query_trace_metrics(
                    [exp], SPANS, "total_cost", SUM, dimensions=[dim], **bucket, **window
                )
                assert stats.requests("Query") == stats.total_requests == cell_reads
            # Unaligned ("the last 7 days" from inside an hour): + 1 listing Query per trace
            # hour holding an edge's spans: here the first edge's own hour (the last edge's
            # hour holds no span, its cells say so); no span item is read.
            stats.reset()
            store.query_trace_metrics(
                [exp], SPANS, "total_cost", SUM, dimensions=[dim],
                start_time_ms=start + 4 * HOUR + 7, end_time_ms=start + 7 * DAY - HOUR // 2,
            )  # fmt: skip
            assert stats.requests("Query") == stats.total_requests == cell_reads + 1


def test_cells_equal_the_exact_path(store, monkeypatch):
    exp = store.create_experiment("equal")
    for n in range(1, 25):
        _log(store, exp, n, n * 3 * HOUR + 7 * n)
    store.delete_traces(exp, trace_ids=[tid(4), tid(9)])
    _log(store, exp, 5, 5 * 3 * HOUR + 35)  # retried
    edged = {"start_time_ms": BASE_MS + 5 * HOUR + 11, "end_time_ms": BASE_MS + 2 * DAY + 3}
    for window in (WINDOW, edged):
        assert _charts(store, [exp], **window) == _exact(store, monkeypatch, [exp], **window)


def test_racing_retries_of_one_trace_count_it_once(store):
    """Four servers receiving the same log_spans: each stats write is conditioned on the
    counted marker, so each span's cost counts once."""
    exp = store.create_experiment("race")
    errors = []

    def writer() -> None:
        try:
            for n in range(1, 6):
                _log(store, exp, n, 1000 + n)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    points = store.query_trace_metrics([exp], SPANS, "total_cost", SUM, **WINDOW)
    assert points[0].values == {"SUM": 3 * 15 / 16}


def test_write_cost_of_a_trace(store):
    """log_spans of a new trace with a costed LLM span: one transaction (stats item, TRACES,
    view and cost cells); a retried identical log_spans writes nothing."""
    exp = store.create_experiment("write")
    stats = store.gateway.stats
    stats.reset()
    _log(store, exp, 1, 0)
    assert stats.requests("TransactWriteItems") == 1
    stats.reset()
    _log(store, exp, 1, 0)
    assert stats.requests("TransactWriteItems") == 0
    assert len(_cells(store.gateway.unscoped, exp)) == 1


def test_cells_follow_set_default_and_go_with_cascade(store, store_uri, monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    provider = DynamoDBWorkspaceProvider(store_uri)
    for name in ("team-a", "team-b"):
        provider.create_workspace(Workspace(name=name))
    with WorkspaceContext("team-a"):
        a = store.create_experiment("a")
        for n in range(1, 4):
            _log(store, a, n, n * HOUR)
    with WorkspaceContext("team-b"):
        b = store.create_experiment("b")
        _log(store, b, 9, 0)
    provider.delete_workspace("team-a", mode=WorkspaceDeletionMode.SET_DEFAULT)
    gateway = store.gateway.unscoped
    with WorkspaceContext("default"):
        assert _charts(store, [a], **WINDOW) == _exact(store, monkeypatch, [a], **WINDOW)
        points = store.query_trace_metrics([a], SPANS, "total_cost", SUM, **WINDOW)
        assert points[0].values == {"SUM": 3 * 6 / 16}
    assert {c["workspace"] for c in _cells(gateway, a)} == {"default"}
    assert _cells(gateway, b)
    provider.delete_workspace("team-b", mode=WorkspaceDeletionMode.CASCADE)
    assert _cells(gateway, b) == []


def test_stats_items_from_before_the_cost_cells_count_after_the_backfill(store, monkeypatch):
    """Stats items counted in the other cells but without the cost summary (written by an
    older version): ``traces backfill-stats`` (its conditional put) counts their costs once."""
    from mlflow_dynamodbstore.repositories.traces import rollups, view_rollups
    from mlflow_dynamodbstore.repositories.traces.stats import stats_item

    exp = store.create_experiment("legacy")
    for n in range(1, 6):
        _log(store, exp, n, n * HOUR)
    gateway = store.gateway.unscoped
    gateway.batch_write(deletes=[{"PK": c["PK"], "SK": c["SK"]} for c in _cells(gateway, exp)])
    for n in range(1, 6):
        old = stats_item(store.traces.get(tid(n)))
        old.pop(cost_rollups.SUMMARY)
        old[rollups.MARKER] = rollups.contribution(old).marker
        old.update(view_rollups.markers(old))
        gateway.put_item(old)
    assert store.query_trace_metrics([exp], SPANS, "total_cost", SUM, **WINDOW) == []
    for n in range(1, 6):
        assert store.traces.stats.put(store.traces.get(tid(n))) is True
        assert store.traces.stats.put(store.traces.get(tid(n))) is False  # counted once
    assert _charts(store, [exp], **WINDOW) == _exact(store, monkeypatch, [exp], **WINDOW)
    points = store.query_trace_metrics([exp], SPANS, "total_cost", SUM, **WINDOW)
    assert points[0].values == {"SUM": 3 * 15 / 16}
