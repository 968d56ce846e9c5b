"""The rollup cells' value sketches on DynamoDB Local: what a percentile chart costs, that
the write path's requests and write units do not change, that concurrent writers and
retries lose or double nothing, and that cells counted before sketches existed send the
query to the exact path until the backfill recounts them (docs/trace-analytics.md,
"Percentiles, MIN and MAX from cells")."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from mlflow.entities.trace_metrics import AggregationType, MetricAggregation, MetricViewType

from mlflow_dynamodbstore.repositories.traces import rollups, value_sketch
from mlflow_dynamodbstore.schema import analytics_keys, trace_rollup_keys
from mlflow_dynamodbstore.search.trace_metrics import query as query_module
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.differential_traces.builders import BASE_MS, span, tid

HOUR = 3600 * 1000
DAY = 24 * HOUR
TRACES = MetricViewType.TRACES
A = MetricAggregation
PCTS = [A(AggregationType.PERCENTILE, 50), A(AggregationType.PERCENTILE, 95)]
ALL = [A(AggregationType.MIN), A(AggregationType.MAX), *PCTS]


@pytest.fixture
def store(store_uri, tmp_path):
    return DynamoDBTrackingStore(store_uri, str(tmp_path / "artifacts"))


def _log(store, exp: str, n: int, at_ms: int, latency: int, tokens: int | None = None) -> None:
    attrs = None
    if tokens is not None:
        usage = {"input_tokens": tokens, "output_tokens": 1, "total_tokens": tokens + 1}
        attrs = {"mlflow.chat.tokenUsage": usage}
    store.log_spans(exp, [span(n, 1, None, "root", at_ms, at_ms + latency, attrs)])


def _ask(store, exp, metric="latency", aggs=ALL, **kwargs):
    points = store.query_trace_metrics([exp], TRACES, metric, aggs, **kwargs)
    return [(p.dimensions, p.values) for p in points]


def _exact(store, monkeypatch, *args, **kwargs):
    with monkeypatch.context() as m:
        m.setattr(query_module, "plan_sketch", lambda *a, **k: None)
        return _ask(store, *args, **kwargs)


def _refuse_exact_path(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("answered from the stats items, not from the cells")

    monkeypatch.setattr(query_module.TraceMetricsQuery, "_trace_rows", refuse)


def _within(ours, exact) -> bool:
    return [d for d, _ in ours] == [d for d, _ in exact] and all(
        abs(float(mine[k]) - float(v)) <= value_sketch.RELATIVE_ACCURACY * abs(float(v))
        for (_, mine), (_, theirs) in zip(ours, exact, strict=True)
        for k, v in theirs.items()
    )


def _cells(store, exp: str) -> list[dict]:
    gateway = store.gateway.unscoped
    return [gateway.get_item(k) for k in rollups.experiment_cell_keys(gateway, exp)]


def test_a_percentile_chart_reads_only_cells_at_any_number_of_traces(store, monkeypatch):
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
            _log(store, exp, n, (start - BASE_MS) + n * 5 * HOUR + n, 150 + 37 * n, tokens=9 * n)
            store.set_trace_tag(tid(n), "mlflow.traceName", "a" if n % 3 else "b")
        for metric, dims in (("latency", None), ("total_tokens", ["trace_name"])):
            stats.reset()
            ours = _ask(store, exp, metric, ALL, dimensions=dims, time_interval_seconds=86400,
                        **window)  # fmt: skip
            assert stats.requests("Query") == stats.total_requests == cell_reads
            exact = _exact(store, monkeypatch, exp, metric, ALL, dimensions=dims,
                           time_interval_seconds=86400, **window)  # fmt: skip
            assert _within(ours, exact) and ours


def test_the_write_path_costs_what_it_did(store, monkeypatch):
    """A trace's write is one TransactWriteItems with or without sketches, and its write
    units do not change while the cell stays under 1 KB."""
    stats = store.gateway.stats

    def cost(exp: str, first: int) -> tuple[int, float]:
        stats.reset()
        for n in range(first, first + 8):
            _log(store, exp, n, 7 * HOUR + n, 150 + 37 * n, tokens=300 + n)
        return stats.requests("TransactWriteItems"), stats.write_capacity

    with_sketch = cost(store.create_experiment("sketch"), 1)
    with monkeypatch.context() as m:
        m.setattr(value_sketch, "counters", lambda values, sign: {})
        without = cost(store.create_experiment("plain-cells"), 101)
    assert with_sketch == without and with_sketch[0] == 8


def test_concurrent_writers_and_retries_count_each_value_once(store, monkeypatch):
    exp = store.create_experiment("race")
    errors = []

    def writer(first: int) -> None:
        try:
            for n in range(first, first + 5):
                _log(store, exp, n, 1000 + n, 100 + 13 * n, tokens=50 + n)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(1 + 5 * i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for n in (3, 17, 33):  # retried with the same payload: nothing moves
        _log(store, exp, n, 1000 + n, 100 + 13 * n, tokens=50 + n)
    for cell in _cells(store, exp):
        parsed = [(value_sketch.parse_attr(k), v) for k, v in cell.items()]
        buckets = sum(int(v) for p, v in parsed if p is not None and p[0] == 0)
        assert buckets == int(cell[rollups.count_attr("execution_time_ms")])
    _refuse_exact_path(monkeypatch)
    ((_, values),) = _ask(store, exp, aggs=[A(AggregationType.MIN), A(AggregationType.MAX)])
    # 113 and 620 are the extreme latencies: within 1 % (113's bucket is 113..115).
    assert abs(values["MIN"] - 113) <= 1.13 and abs(values["MAX"] - 620) <= 6.2


def test_cells_counted_before_sketches_answer_exactly_until_the_backfill(store, monkeypatch):
    exp = store.create_experiment("legacy")
    latencies = {n: 200 + 97 * n for n in range(1, 9)}
    original = rollups.contribution
    with monkeypatch.context() as m:  # counted as before sketches: no buckets, old marker
        m.setattr(rollups, "contribution", lambda s: replace(original(s), sketched=False))
        for n, latency in latencies.items():
            _log(store, exp, n, n * 20 * 60 * 1000, latency)
    stored = store.gateway.unscoped.get_item(analytics_keys.trace_stats_key(tid(1)))
    assert not rollups.marker_is_sketched(stored[rollups.MARKER])
    exact = _exact(store, monkeypatch, exp)
    assert _ask(store, exp) == exact  # incomplete cells: the exact path answers
    store.delete_traces(exp, trace_ids=[tid(1)])  # subtracts no bucket it never added
    _log(store, exp, 20, 2 * HOUR + 5, 5000)  # a sketched trace beside the legacy ones
    assert all(int(v) >= 0 for c in _cells(store, exp) for k, v in c.items()
               if value_sketch.parse_attr(k))  # fmt: skip
    assert _ask(store, exp) == _exact(store, monkeypatch, exp)
    # The backfill recounts the legacy stats items (same version, marker without the flag).
    recounted = [store.traces.stats.put(store.traces.get(tid(n))) for n in range(2, 9)]
    assert all(recounted)
    assert store.traces.stats.put(store.traces.get(tid(2))) is False  # counted already
    exact = _exact(store, monkeypatch, exp)
    _refuse_exact_path(monkeypatch)
    assert _within(_ask(store, exp), exact)


def test_deleting_a_full_group_of_one_cell_subtracts_every_bucket(store, monkeypatch):
    """40 traces of one cell (same hour, shard, name, status), each value in its own sketch
    bucket, deleted by one call: each transaction group (up to 100 actions) merges its
    traces' subtractions into one UpdateItem of the cell, an ADD term per bucket (about
    three per trace here), and the cell ends empty."""
    from mlflow_dynamodbstore.schema.analytics_keys import stats_shard

    exp = store.create_experiment("bulk")
    numbers = [n for n in range(1, 400) if stats_shard(tid(n)) == 0][:40]
    for i, n in enumerate(numbers):
        # latencies and tokens ~5 % apart: every value lands in a bucket of its own
        _log(store, exp, n, 1000 + i, int(100 * 1.05**i), tokens=int(50 * 1.05**i))
    (cell,) = _cells(store, exp)
    assert (
        sum(1 for k in cell if value_sketch.parse_attr(k) is not None) >= 120
    )  # latency, input and total tokens
    deleted = store.delete_traces(exp, trace_ids=[tid(n) for n in numbers])
    assert deleted == 40
    for cell in _cells(store, exp):
        counters = {k: v for k, v in cell.items() if value_sketch.parse_attr(k) is not None}
        assert all(int(v) == 0 for v in counters.values()), counters
        assert int(cell[rollups.count_attr("execution_time_ms")]) == 0
    # as the SQL store: one point counting 0
    assert _ask(store, exp, aggs=[A(AggregationType.COUNT)], metric="trace_count") == [
        ({}, {"COUNT": 0})
    ]
