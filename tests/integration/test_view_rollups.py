"""SPANS and ASSESSMENTS view rollup cells on DynamoDB Local: the cells equal the exact path
after every kind of write (retries, re-logged spans, racing servers, assessment overrides
and deletions, trace deletions), what an overview chart costs, that a trace write stays one
transaction, and that the cells follow the experiment through workspace moves and deletions
(docs/trace-analytics.md, "Rollups of the SPANS and ASSESSMENTS views")."""

from __future__ import annotations

import random
import threading

import pytest
from mlflow.entities import AssessmentSource, Feedback, SpanType
from mlflow.entities.trace_metrics import AggregationType, MetricAggregation, MetricViewType
from mlflow.entities.workspace import Workspace, WorkspaceDeletionMode
from mlflow.utils.workspace_context import WorkspaceContext

from mlflow_dynamodbstore.repositories.traces import view_rollups
from mlflow_dynamodbstore.schema import analytics_keys, view_rollup_keys
from mlflow_dynamodbstore.search.trace_metrics import query as query_module
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider
from tests.differential_traces.builders import BASE_MS, span, tid

HOUR = 3600 * 1000
DAY = 24 * HOUR
SPANS, ASSESSMENTS = MetricViewType.SPANS, MetricViewType.ASSESSMENTS
COUNT = [MetricAggregation(AggregationType.COUNT)]
AVG = [MetricAggregation(AggregationType.AVG)]
TOOL = {"mlflow.spanType": SpanType.TOOL}
SOURCE = AssessmentSource("HUMAN", "u")


@pytest.fixture
def store(store_uri, tmp_path):
    return DynamoDBTrackingStore(store_uri, str(tmp_path / "artifacts"))


def _log(store, exp: str, n: int, at_ms: int, *, tools: int = 2, error: bool = False) -> None:
    spans = [span(n, 1, None, "agent", at_ms, at_ms + 100 + n)]
    for i in range(tools):
        name = ["search", "calc", "fetch"][(n + i) % 3]
        spans.append(
            span(n, 2 + i, 1, name, at_ms + i, at_ms + 5 + (n * i) % 17, TOOL, error=error)
        )
    store.log_spans(exp, spans)


def _rate(store, n: int, value) -> str:
    return store.create_assessment(
        Feedback(name="rating", value=value, source=SOURCE, trace_id=tid(n))
    ).assessment_id


def _overview(store, experiments, **window) -> dict:
    def ask(view, metric, aggregations, **kwargs):
        points = store.query_trace_metrics(experiments, view, metric, aggregations, **kwargs)
        return [(p.dimensions, p.values) for p in points]

    daily = {"time_interval_seconds": 86400} if len(window) == 2 else {}
    return {
        "tools": ask(SPANS, "span_count", COUNT, dimensions=["span_name", "span_status"],
                     filters=["span.type = 'TOOL'"], **window),
        "tools_daily": ask(SPANS, "span_count", COUNT, dimensions=["span_name"],
                           filters=["span.type = 'TOOL'"], **daily, **window),
        "latency": ask(SPANS, "latency", AVG, dimensions=["span_name"], **window),
        "by_type": ask(SPANS, "span_count", COUNT, dimensions=["span_type"], **daily, **window),
        "ratings": ask(ASSESSMENTS, "assessment_value", AVG, dimensions=["assessment_name"],
                       **daily, **window),
        "by_value": ask(ASSESSMENTS, "assessment_count", COUNT,
                        dimensions=["assessment_name", "assessment_value"], **window),
    }  # fmt: skip


def _exact(store, monkeypatch, experiments, **window) -> dict:
    with monkeypatch.context() as m:
        m.setattr(query_module, "plan_view_rollup", lambda *a, **k: None)
        return _overview(store, experiments, **window)


WINDOWS = [
    {},
    {"start_time_ms": BASE_MS + 3 * HOUR + 17, "end_time_ms": BASE_MS + 2 * DAY + 5},
    {"start_time_ms": BASE_MS - BASE_MS % HOUR, "end_time_ms": BASE_MS + 3 * DAY - 1},
]


def _view_cells(gateway, experiment_id: str) -> list[dict]:
    return [
        c
        for kind in (view_rollup_keys.SPANS, view_rollup_keys.ASSESSMENTS)
        for c in view_rollups.read_cells(gateway, kind, experiment_id, BASE_MS - DAY, BASE_MS + DAY)
    ]


def test_cells_equal_the_exact_path_after_every_kind_of_write(store, monkeypatch):
    rng = random.Random(7)
    exp = store.create_experiment("mixed")
    at = {n: rng.randrange(3 * DAY) for n in range(1, 51)}
    for n in range(1, 51):
        _log(store, exp, n, at[n], tools=rng.randrange(4), error=rng.random() < 0.2)
        if rng.random() < 0.6:
            _rate(store, n, rng.choice([True, False, 1, 2, 5]))
    for n in rng.sample(range(1, 51), 10):  # retried, or re-logged with other tool calls
        _log(store, exp, n, at[n], tools=rng.randrange(4), error=rng.random() < 0.5)
    for n in rng.sample(range(1, 51), 5):  # an override, then the override deleted
        old = _rate(store, n, 3)
        new = store.create_assessment(
            Feedback(name="rating", value=4, source=SOURCE, trace_id=tid(n), overrides=old)
        )
        if n % 2:
            store.delete_assessment(tid(n), new.assessment_id)
    store.delete_traces(exp, trace_ids=[tid(n) for n in rng.sample(range(1, 51), 8)])
    store.delete_traces(exp, max_timestamp_millis=BASE_MS + 5 * HOUR)
    for window in WINDOWS:
        assert _overview(store, [exp], **window) == _exact(store, monkeypatch, [exp], **window)


def test_racing_retries_of_one_trace_count_it_once(store):
    """Four servers receiving the same log_spans (a client retrying after time-outs): each
    stats write is conditioned on the counted marker, so the spans count once."""
    exp = store.create_experiment("race")
    errors = []

    def writer() -> None:
        try:
            for n in range(1, 6):
                _log(store, exp, n, 1000 + n, tools=3)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    points = store.query_trace_metrics([exp], SPANS, "span_count", COUNT)
    assert points[0].values == {"COUNT": 5 * 4}


def test_unsummed_hours_come_from_the_traces(store, monkeypatch):
    """A non-integer feedback value, and spans stored before facts carried times, make their
    trace 'not summed': its hour is read from the traces, the answer does not change."""
    exp = store.create_experiment("unsummed")
    for n in range(1, 9):
        _log(store, exp, n, n * 3 * HOUR + 7)
        _rate(store, n, n % 3)
    _rate(store, 2, 0.25)
    meta = store.traces.get(tid(5))
    facts = {k: v[:3] for k, v in meta["span_facts"].items()}  # as written before times
    store.traces.mutate(tid(5), lambda item: {**item, "span_facts": facts})
    window = {"start_time_ms": BASE_MS, "end_time_ms": BASE_MS + 2 * DAY - 1}
    unknown = [c for c in _view_cells(store.gateway.unscoped, exp) if c["SK"].endswith("#?")]
    assert sorted(int(c["u"]) for c in unknown) == [1, 1]
    assert _overview(store, [exp], **window) == _exact(store, monkeypatch, [exp], **window)
    # A group holding the non-integer value is answered by the exact path, bit for bit.
    values = store.query_trace_metrics([exp], ASSESSMENTS, "assessment_value", AVG, **window)
    assert values[0].values == {"AVG": (sum(n % 3 for n in range(1, 9)) + 0.25) / 9}


def test_an_overview_chart_reads_only_cells_and_costs_the_same_at_twice_the_traces(store):
    exp = store.create_experiment("cost")
    start = BASE_MS - BASE_MS % DAY
    window = {"start_time_ms": start, "end_time_ms": start + 7 * DAY - 1}
    periods = (
        analytics_keys.stats_period(window["end_time_ms"])
        - analytics_keys.stats_period(window["start_time_ms"])
        + 1
    )
    cell_reads = periods * view_rollup_keys.VIEW_ROLLUP_SHARDS
    stats = store.gateway.stats
    for batch in (range(1, 21), range(21, 41)):
        for n in batch:
            _log(store, exp, n, (start - BASE_MS) + n * 4 * HOUR + n)
            _rate(store, n, n % 2 == 0)
        for view, metric, aggregations, dims, filters in (
            (SPANS, "span_count", COUNT, ["span_name", "span_status"], ["span.type = 'TOOL'"]),
            (SPANS, "latency", AVG, ["span_name"], ["span.type = 'TOOL'"]),
            (ASSESSMENTS, "assessment_value", AVG, ["assessment_name"], None),
            (ASSESSMENTS, "assessment_count", COUNT, ["assessment_name", "assessment_value"],
             ["assessment.type = 'feedback'"]),
        ):  # fmt: skip
            stats.reset()
            store.query_trace_metrics(
                [exp], view, metric, aggregations, dimensions=dims, filters=filters,
                time_interval_seconds=86400, **window,
            )  # fmt: skip
            assert stats.requests("Query") == stats.total_requests == cell_reads
            # Unaligned ("the last 7 days" from inside an hour): + 1 listing Query per edge
            # hour; the edges' spans come from META's span facts, no span is read.
            stats.reset()
            store.query_trace_metrics(
                [exp], view, metric, aggregations, dimensions=dims, filters=filters,
                start_time_ms=start + 4 * HOUR + 7, end_time_ms=start + 7 * DAY - HOUR // 2,
            )  # fmt: skip
            assert stats.requests("Query") == stats.total_requests == cell_reads + 2


def test_write_cost_of_a_trace(store):
    """log_spans of a new trace, an assessment: one transaction each (stats item, TRACES and
    view cells); a retried identical log_spans writes nothing."""
    exp = store.create_experiment("write")
    stats = store.gateway.stats
    stats.reset()
    _log(store, exp, 1, 0, tools=3)
    assert stats.requests("TransactWriteItems") == 1
    stats.reset()
    _log(store, exp, 1, 0, tools=3)
    assert stats.requests("TransactWriteItems") == 0
    stats.reset()
    _rate(store, 1, 4)
    assert stats.requests("TransactWriteItems") == 1


def test_cells_follow_set_default_and_go_with_cascade(store, store_uri, monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    provider = DynamoDBWorkspaceProvider(store_uri)
    for name in ("team-a", "team-b"):
        provider.create_workspace(Workspace(name=name))
    with WorkspaceContext("team-a"):
        a = store.create_experiment("a")
        for n in range(1, 4):
            _log(store, a, n, n * HOUR)
            _rate(store, n, n)
    with WorkspaceContext("team-b"):
        b = store.create_experiment("b")
        _log(store, b, 9, 0)
    provider.delete_workspace("team-a", mode=WorkspaceDeletionMode.SET_DEFAULT)
    gateway = store.gateway.unscoped
    with WorkspaceContext("default"):
        assert _overview(store, [a]) == _exact(store, monkeypatch, [a])
        points = store.query_trace_metrics([a], SPANS, "span_count", COUNT)
        assert points[0].values == {"COUNT": 9}
    assert {c["workspace"] for c in _view_cells(gateway, a)} == {"default"}
    assert _view_cells(gateway, b)
    provider.delete_workspace("team-b", mode=WorkspaceDeletionMode.CASCADE)
    assert _view_cells(gateway, b) == []


def test_stats_items_from_before_the_view_cells_count_after_the_backfill(store, monkeypatch):
    """Stats items counted in the TRACES cells but without the view summary (written by an
    older version): ``traces backfill-stats`` (its conditional put) counts their summary,
    and the TRACES cells do not move."""
    from mlflow_dynamodbstore.repositories.traces import rollups
    from mlflow_dynamodbstore.repositories.traces.stats import stats_item

    exp = store.create_experiment("legacy")
    for n in range(1, 6):
        _log(store, exp, n, n * HOUR)
        _rate(store, n, n % 2 == 0)
    gateway = store.gateway.unscoped
    gateway.batch_write(deletes=[{"PK": c["PK"], "SK": c["SK"]} for c in _view_cells(gateway, exp)])
    for n in range(1, 6):
        old = stats_item(store.traces.get(tid(n)))
        old.pop(view_rollups.VIEWS)
        old[rollups.MARKER] = rollups.contribution(old).marker
        gateway.put_item(old)
    assert store.query_trace_metrics([exp], SPANS, "span_count", COUNT)[0].values == {"COUNT": 0}
    trace_cells = list(rollups.TraceRollupRepository(gateway).cells(exp, BASE_MS, BASE_MS + DAY))
    for n in range(1, 6):
        assert store.traces.stats.put(store.traces.get(tid(n))) is True
        assert store.traces.stats.put(store.traces.get(tid(n))) is False  # counted once
    assert _overview(store, [exp]) == _exact(store, monkeypatch, [exp])
    assert store.query_trace_metrics([exp], SPANS, "span_count", COUNT)[0].values == {"COUNT": 15}
    after = list(rollups.TraceRollupRepository(gateway).cells(exp, BASE_MS, BASE_MS + DAY))
    assert after == trace_cells
