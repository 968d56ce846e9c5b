"""PERCENTILE, MIN and MAX from the rollup cells' value sketches against SqlAlchemyStore
(SQLite): the same data points, SUM/AVG exactly, PERCENTILE/MIN/MAX within the documented
1 % bound and exactly equal where the sketch is exact (values below 99, one value per group)
(docs/trace-analytics.md, "Percentiles, MIN and MAX from cells").

Each scenario runs on both stores; on ours the exact path (every stats item of the range) is
made to fail, so the answers really come from cells (+ the edges' traces)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from mlflow.entities.trace_metrics import AggregationType, MetricAggregation, MetricViewType
from mlflow.tracing.constant import TraceTagKey

from mlflow_dynamodbstore.compat import mlflow_at_least
from mlflow_dynamodbstore.repositories.traces.value_sketch import RELATIVE_ACCURACY
from mlflow_dynamodbstore.search.trace_metrics import query as query_module
from tests.differential_traces.builders import BASE_MS, span, tid
from tests.differential_traces.scenarios_metrics import _as_3_17_sums

HOUR = 3600 * 1000
DAY = 24 * HOUR
TRACES = MetricViewType.TRACES
A = MetricAggregation
PCTS = [A(AggregationType.PERCENTILE, p) for p in (0, 1, 50, 90, 95, 99, 99.9, 100)]
# Before 3.17 SqlAlchemyStore refuses MIN/MAX on these metrics ("Supported aggregation types:
# ['AVG', 'PERCENTILE']"), and so does this store there (it validates with the installed
# MLflow's validate_query_trace_metrics_params): the charts ask AVG and the percentiles only.
MIN_MAX = [A(AggregationType.MIN), A(AggregationType.MAX)] if mlflow_at_least("3.17") else []
ALL = [*MIN_MAX, A(AggregationType.AVG), *PCTS]
TOKENS = ("input_tokens", "output_tokens", "total_tokens", "cache_read_input_tokens")
SKETCHED = {"MIN", "MAX"}


def _sketched(key: str) -> bool:
    """MIN, MAX and percentiles (``P50``, ``P99.9``): the values the sketch answers."""
    return key in SKETCHED or (key[:1] == "P" and key[1:2].isdigit())


UNALIGNED = {"start_time_ms": BASE_MS + 5 * HOUR + 1234, "end_time_ms": BASE_MS + 2 * DAY + 789}
ALIGNED = {"start_time_ms": BASE_MS - BASE_MS % DAY, "end_time_ms": BASE_MS + 4 * DAY - 1}


def _log(store, exp: str, n: int, start: int, latency: int, usage: dict | None, error=False):
    attrs = None if usage is None else {"mlflow.chat.tokenUsage": usage}
    store.log_spans(exp, [span(n, 1, None, "root", start, start + latency, attrs, error=error)])


def _corpus(store, *, small: bool = False) -> str:
    """150 traces over three days: latencies and token counts spread over four orders of
    magnitude (or all below 99 with ``small``), names agent / chat / none, some errors."""
    rng = random.Random(3)
    exp = store.create_experiment("sketch")
    for n in range(1, 151):
        start = rng.randrange(3 * DAY)
        if small:
            latency, usage = rng.randrange(99), {"input_tokens": rng.randrange(99)}
        else:
            latency = int(rng.lognormvariate(6, 1.5))
            tokens_in, tokens_out = rng.randrange(10, 20000), rng.randrange(0, 700)
            usage = {"input_tokens": tokens_in, "output_tokens": tokens_out,
                     "total_tokens": tokens_in + tokens_out}  # fmt: skip
            if n % 3 == 0:
                usage["cache_read_input_tokens"] = rng.randrange(5000)
            if n % 11 == 0:
                usage = None  # no token usage: NULL token columns
        _log(store, exp, n, start, latency, usage, error=n % 7 == 0)
        if n % 5:
            store.set_trace_tag(tid(n), TraceTagKey.TRACE_NAME, "agent" if n % 2 else "chat")
    return exp


def _ask(store, exp: str, metric: str, aggs, **kwargs) -> list[tuple[dict, dict]]:
    points = store.query_trace_metrics([exp], TRACES, metric, aggs, **kwargs)
    # Before 3.17 the SQL store answers a token SUM as a float (see _as_3_17_sums).
    return [(p.dimensions, _as_3_17_sums(p.values)) for p in points]


def _charts(store, exp: str, **window: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    interval = {"time_interval_seconds": 86400} if window else {}
    hourly = {"time_interval_seconds": 3600} if window else {}
    for metric in ("latency", *TOKENS):
        out[f"{metric}_daily"] = _ask(store, exp, metric, ALL, **interval, **window)
        out[f"{metric}_by_name"] = _ask(
            store, exp, metric, ALL, dimensions=["trace_name"], **window
        )
    out["latency_hourly"] = _ask(store, exp, "latency", PCTS[2:5], **hourly, **window)
    out["latency_sum_p50"] = _ask(
        store, exp, "total_tokens", [A(AggregationType.SUM), PCTS[2]], **window
    )
    out["ok_only"] = _ask(
        store, exp, "latency", ALL, filters=["trace.status = 'OK'"], **interval, **window
    )
    out["agent_only"] = _ask(
        store, exp, "latency", ALL, filters=[f"trace.tag.{TraceTagKey.TRACE_NAME} = 'agent'"],
        **window,
    )  # fmt: skip
    out["limited"] = _ask(store, exp, "latency", PCTS[2:4], max_results=2, **hourly, **window)
    return out


def _within(ours: Any, sql: Any, key: str, exact: bool) -> bool:
    if exact or not _sketched(key):
        return ours == sql and type(ours) is type(sql)
    if key in SKETCHED and type(ours) is not type(sql):
        return False  # MIN / MAX keep the integer column's type
    return abs(float(ours) - float(sql)) <= RELATIVE_ACCURACY * abs(float(sql)) + 1e-9


def _assert_close(ours: dict, sql: dict, *, exact: bool = False) -> int:
    """Every chart has the same points; values equal or within the bound. Returns how many
    sketched values were compared."""
    compared = 0
    assert ours.keys() == sql.keys()
    for chart in sql:
        assert [d for d, _ in ours[chart]] == [d for d, _ in sql[chart]], chart
        for (dims, mine), (_, theirs) in zip(ours[chart], sql[chart], strict=True):
            assert mine.keys() == theirs.keys(), (chart, dims)
            for key in theirs:
                assert _within(mine[key], theirs[key], key, exact), (
                    chart, dims, key, mine[key], theirs[key],
                )  # fmt: skip
                compared += _sketched(key)
    return compared


@pytest.fixture
def cells_only(monkeypatch):
    """Fail any TRACES query that would read the stats items (the exact path)."""

    def refuse(*args, **kwargs):
        raise AssertionError("answered from the stats items, not from the cells")

    def install() -> None:
        monkeypatch.setattr(query_module.TraceMetricsQuery, "_trace_rows", refuse)

    return install


@pytest.mark.parametrize("window", [UNALIGNED, ALIGNED, {}], ids=["unaligned", "aligned", "open"])
def test_sketch_answers_are_within_the_bound(window, sql_store, dynamo_store, cells_only):
    sql = _charts(sql_store, _corpus(sql_store), **window)
    exp = _corpus(dynamo_store)
    cells_only()
    # Without MIN / MAX (before 3.17) the open window holds 142 sketched values.
    assert _assert_close(_charts(dynamo_store, exp, **window), sql) > (150 if MIN_MAX else 120)


def test_values_below_99_are_exact(sql_store, dynamo_store, cells_only):
    sql = _charts(sql_store, _corpus(sql_store, small=True), **UNALIGNED)
    exp = _corpus(dynamo_store, small=True)
    cells_only()
    _assert_close(_charts(dynamo_store, exp, **UNALIGNED), sql, exact=True)


def test_one_trace_per_bucket_is_exact(sql_store, dynamo_store, cells_only):
    """Large values, one trace per hour: every hourly point is exactly SQL's."""

    def corpus(store) -> str:
        exp = store.create_experiment("one-per-hour")
        for n in range(1, 30):
            _log(store, exp, n, n * HOUR + 17 * n, 1000 + 7919 * n, {"input_tokens": 123457 * n})
        return exp

    window = {"start_time_ms": BASE_MS, "end_time_ms": BASE_MS + 31 * HOUR - 1}
    kwargs = {"time_interval_seconds": 3600, **window}
    sql_exp = corpus(sql_store)
    sql = {m: _ask(sql_store, sql_exp, m, ALL, **kwargs) for m in ("latency", "input_tokens")}
    exp = corpus(dynamo_store)
    cells_only()
    ours = {m: _ask(dynamo_store, exp, m, ALL, **kwargs) for m in ("latency", "input_tokens")}
    assert ours == sql


def test_after_deletes_retries_and_renames(sql_store, dynamo_store, cells_only):
    def scenario(store) -> dict:
        exp = _corpus(store)
        store.delete_traces(exp, trace_ids=[tid(n) for n in range(3, 150, 9)])
        store.delete_traces(exp, max_timestamp_millis=BASE_MS + 7 * HOUR)
        for n in (2, 4, 8):  # a client retrying log_spans with another latency
            _log(store, exp, n, 20 * HOUR + n, 5000 + n, {"input_tokens": 100_000 + n})
        store.set_trace_tag(tid(2), TraceTagKey.TRACE_NAME, "renamed")
        store.delete_trace_tag(tid(4), TraceTagKey.TRACE_NAME)
        return {"charts": _charts(store, exp, **UNALIGNED), "open": _charts(store, exp)}

    sql = scenario(sql_store)
    cells_only()
    ours = scenario(dynamo_store)
    assert _assert_close(ours["charts"], sql["charts"]) > 300
    _assert_close(ours["open"], sql["open"])
