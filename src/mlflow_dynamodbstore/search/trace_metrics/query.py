"""query_trace_metrics: read the records of the time range, filter, turn them into metric
rows, aggregate (docs/trace-analytics.md)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from mlflow.entities.trace_metrics import MetricAggregation, MetricDataPoint, MetricViewType
from mlflow.tracing.constant import (
    AssessmentMetricDimensionKey,
    AssessmentMetricKey,
    SpanAttributeKey,
    SpanMetricDimensionKey,
    SpanMetricKey,
    TraceMetricDimensionKey,
    TraceMetricKey,
)

from mlflow_dynamodbstore.compat.helpers import _try_parse_json_string
from mlflow_dynamodbstore.compat.trace_analytics import (
    bounded_model_dimension,
    finite_float_or_none,
)
from mlflow_dynamodbstore.repositories.traces import view_rollups as view_rollup_cells
from mlflow_dynamodbstore.repositories.traces.repository import TraceRepository
from mlflow_dynamodbstore.repositories.traces.spans import SpanRepository, SpanRow
from mlflow_dynamodbstore.search.trace_metrics.aggregate import MetricRow, aggregate
from mlflow_dynamodbstore.search.trace_metrics.cost_rollups import (
    CostRollupQuery,
    plan_cost_rollup,
)
from mlflow_dynamodbstore.search.trace_metrics.filters import ParsedFilters, parse_filters
from mlflow_dynamodbstore.search.trace_metrics.rollup_query import RollupQuery, plan_rollup
from mlflow_dynamodbstore.search.trace_metrics.session_index import session_count_rows
from mlflow_dynamodbstore.search.trace_metrics.sketch_query import SketchQuery, plan_sketch
from mlflow_dynamodbstore.search.trace_metrics.traces_view import Record, TraceRecords
from mlflow_dynamodbstore.search.trace_metrics.view_rollups import (
    ViewRollupQuery,
    plan_view_rollup,
)

_NS_PER_MS = 1_000_000
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# Span cost metrics bound spans by their own start time; their traces are found by trace
# timestamp, looking back this far before the range (docs/trace-analytics.md).
SPAN_COST_LOOKBACK_MS = 24 * 3600 * 1000

_TRACE_VALUE_COLUMN = {
    TraceMetricKey.TRACE_COUNT: "trace_id",
    TraceMetricKey.SESSION_COUNT: "session_id",
    TraceMetricKey.LATENCY: "execution_time_ms",
    **{k: k for k in TraceMetricKey.token_usage_keys()},
}
_TRACE_DIMENSION_COLUMN = {
    TraceMetricDimensionKey.TRACE_NAME: "trace_name",
    TraceMetricDimensionKey.TRACE_STATUS: "status",
}
_SPAN_DIMENSION_COLUMN = {
    SpanMetricDimensionKey.SPAN_NAME: "name",
    SpanMetricDimensionKey.SPAN_TYPE: "type",
    SpanMetricDimensionKey.SPAN_STATUS: "status",
    SpanMetricDimensionKey.SPAN_MODEL_NAME: "model_name",
    SpanMetricDimensionKey.SPAN_MODEL_PROVIDER: "model_provider",
}
_ASSESSMENT_DIMENSION_COLUMN = {
    AssessmentMetricDimensionKey.ASSESSMENT_NAME: "name",
    AssessmentMetricDimensionKey.ASSESSMENT_VALUE: "value",
}


def _bounds(start_ms: int | None, end_ms: int | None) -> tuple[int | None, int | None] | None:
    """The inclusive range clamped to what a timestamp can be; None if it is empty."""
    if start_ms is not None and start_ms > _INT64_MAX // _NS_PER_MS:
        return None
    if end_ms is not None and end_ms < _INT64_MIN // _NS_PER_MS:
        return None
    low = None if start_ms is None or start_ms <= 0 else int(start_ms)
    high = None if end_ms is None or end_ms >= _INT64_MAX // _NS_PER_MS else int(end_ms)
    if end_ms is not None and end_ms < 0:
        return None  # trace timestamps are epoch milliseconds, never negative
    if low is not None and high is not None and low > high:
        return None
    return low, high


class TraceMetricsQuery:
    def __init__(self, traces: TraceRepository, spans: SpanRepository):
        self.traces = traces
        self.spans = spans
        self.records = TraceRecords(traces)

    def run(
        self,
        experiment_ids: list[str],
        view_type: MetricViewType,
        metric_name: str,
        aggregations: list[MetricAggregation],
        dimensions: list[str] | None,
        filters: list[str] | None,
        time_interval_seconds: int | None,
        start_time_ms: int | None,
        end_time_ms: int | None,
        max_results: int,
    ) -> list[MetricDataPoint]:
        parsed = parse_filters(filters, view_type)
        bounds = _bounds(start_time_ms, end_time_ms)
        if bounds is not None and experiment_ids:
            # Pre-aggregated cells when they answer the query exactly (rollup_query.py).
            plan = plan_rollup(
                view_type, metric_name, aggregations, dimensions, filters, time_interval_seconds
            )
            if plan is not None:
                points = RollupQuery(self.traces.stats.rollups, self.records).run(
                    plan, experiment_ids, *bounds, max_results
                )
                if points is not None:
                    return points
            # PERCENTILE / MIN / MAX from the cells' value sketches (sketch_query.py).
            sketch_plan = plan_sketch(
                view_type, metric_name, aggregations, dimensions, filters, time_interval_seconds
            )
            if sketch_plan is not None:
                points = SketchQuery(self.traces.stats.rollups, self.records).run(
                    sketch_plan, experiment_ids, *bounds, max_results
                )
                if points is not None:
                    return points
            # Span costs by model / provider from the cost cells (cost_rollups.py); the
            # Overview always sends both ends of the range.
            cost_plan = plan_cost_rollup(
                view_type, metric_name, aggregations, dimensions, filters, time_interval_seconds
            )
            if cost_plan is not None and None not in bounds:
                points = CostRollupQuery(self.traces.gateway, self.traces).run(
                    cost_plan, experiment_ids, *bounds, max_results
                )
                if points is not None:
                    return points
            view_plan = plan_view_rollup(
                view_type, metric_name, aggregations, dimensions, filters, time_interval_seconds
            )
            if view_plan is not None:
                points = self._view_rollups(view_plan, experiment_ids, parsed, bounds, max_results)
                if points is not None:
                    return points
        rows: Iterable[MetricRow] = ()
        if bounds is not None and experiment_ids:
            match view_type:
                case MetricViewType.TRACES if metric_name == TraceMetricKey.SESSION_COUNT and not (
                    filters
                ):
                    # Distinct sessions from the session heads (session_index.py).
                    rows = session_count_rows(
                        self.traces, experiment_ids, *bounds, time_interval_seconds
                    )
                case MetricViewType.TRACES:
                    rows = self._trace_rows(experiment_ids, metric_name, dimensions, parsed, bounds)
                case MetricViewType.ASSESSMENTS:
                    rows = self._assessment_rows(experiment_ids, metric_name, parsed, bounds)
                case MetricViewType.SPANS:
                    rows = self._span_rows(
                        experiment_ids, metric_name, dimensions, parsed, bounds, start_time_ms,
                        end_time_ms,
                    )  # fmt: skip
        return aggregate(
            rows,
            metric_name=metric_name,
            aggregations=aggregations,
            dimensions=dimensions,
            time_interval_seconds=time_interval_seconds,
            max_results=max_results,
            distinct=view_type == MetricViewType.TRACES
            and metric_name == TraceMetricKey.SESSION_COUNT,
        )

    def _view_rollups(self, plan, experiment_ids, parsed, bounds, max_results):
        """The SPANS / ASSESSMENTS views from their cells (view_rollups.py); the hours the
        cells cannot answer from this class's exact rows."""

        def exact_rows(experiment_id: str, low: int, high: int) -> Iterable[MetricRow]:
            if plan.view_type == MetricViewType.ASSESSMENTS:
                return self._assessment_rows([experiment_id], plan.metric_name, parsed, (low, high))
            return self._timed_span_rows(experiment_id, plan, parsed, low, high)

        query = ViewRollupQuery(self.traces.gateway, self.records, exact_rows)
        return query.run(plan, experiment_ids, *bounds, max_results)

    def _timed_span_rows(self, experiment_id, plan, parsed, low, high) -> Iterator[MetricRow]:
        """The SPANS view's count/latency rows of the traces low..high from META's span facts
        (one listing Query per MB), reading the spans only of traces whose facts cannot say."""
        column = _span_value_column(plan.metric_name)
        for item in self.traces.list_experiment(experiment_id, newest=high, oldest=low):
            rows = view_rollup_cells.timed_rows(item)
            if rows is None:
                rows = self.spans.read(item["trace_id"], with_content=False)
            for row in rows:
                span = span_record(row, False)
                if all(p(span) for p in parsed.span):
                    yield MetricRow(
                        row.start_time_ns,
                        span.get(column),
                        {d: span.get(_SPAN_DIMENSION_COLUMN[d]) for d in plan.dimensions},
                    )

    # ---- TRACES ----------------------------------------------------------------------
    def _traces(
        self, experiment_ids: list[str], parsed: ParsedFilters, bounds: tuple, meta: bool
    ) -> Iterator[Record]:
        source = self.records.from_meta if meta else self.records.from_stats
        for record in source(experiment_ids, *bounds):
            if all(p(record) for p in parsed.trace):
                yield record

    def _trace_rows(self, experiment_ids, metric_name, dimensions, parsed, bounds):
        column = _TRACE_VALUE_COLUMN[metric_name]
        dims = {d: _TRACE_DIMENSION_COLUMN[d] for d in dimensions or []}
        for r in self._traces(experiment_ids, parsed, bounds, meta=parsed.needs_trace_item):
            yield MetricRow(
                r["timestamp_ms"] * _NS_PER_MS,
                r.get(column),
                {d: r.get(c) for d, c in dims.items()},
            )

    # ---- ASSESSMENTS -------------------------------------------------------------------
    def _assessment_rows(self, experiment_ids, metric_name, parsed, bounds):
        for trace in self._traces(experiment_ids, parsed, bounds, meta=True):
            for stored in (trace.get("assessments") or {}).values():
                if not stored.get("valid", True):
                    continue  # overridden: the SQL view counts valid assessments only
                if not all(p(stored) for p in parsed.assessment):
                    continue
                aggregate_value = stored.get("aggregate_value")
                value = (
                    stored.get("assessment_id")
                    if metric_name == AssessmentMetricKey.ASSESSMENT_COUNT
                    else (None if aggregate_value is None else float(aggregate_value))
                )
                yield MetricRow(
                    trace["timestamp_ms"] * _NS_PER_MS,
                    value,
                    {d: stored.get(c) for d, c in _ASSESSMENT_DIMENSION_COLUMN.items()},
                )

    # ---- SPANS -----------------------------------------------------------------------
    def _span_rows(self, experiment_ids, metric_name, dimensions, parsed, bounds, start_ms, end_ms):
        cost = metric_name in SpanMetricKey.cost_keys()
        low, high = bounds
        trace_bounds = (
            (None if low is None else max(low - SPAN_COST_LOOKBACK_MS, 0), high) if cost else bounds
        )
        model_dimensions = (
            SpanMetricDimensionKey.SPAN_MODEL_NAME,
            SpanMetricDimensionKey.SPAN_MODEL_PROVIDER,
        )
        need_content = any(d in model_dimensions for d in dimensions or [])
        for trace in self._traces(experiment_ids, parsed, trace_bounds, meta=True):
            for row in self.spans.read(trace["trace_id"], with_content=need_content):
                span = span_record(row, need_content)
                if cost and not _span_in_range(row.start_time_ns, start_ms, end_ms):
                    continue
                if not all(p(span) for p in parsed.span):
                    continue
                yield MetricRow(
                    # Span count and latency are bucketed by span start, like SQL's
                    # start_time_unix_nano / 1e6.
                    row.start_time_ns,
                    span.get(_span_value_column(metric_name)),
                    {d: span.get(_SPAN_DIMENSION_COLUMN[d]) for d in dimensions or []},
                )


def _span_value_column(metric_name: str) -> str:
    if metric_name == SpanMetricKey.SPAN_COUNT:
        return "span_id"
    if metric_name == SpanMetricKey.LATENCY:
        return "latency"
    return metric_name  # input_cost / output_cost / total_cost


def _span_in_range(start_ns: int, start_ms: int | None, end_ms: int | None) -> bool:
    if start_ms is not None and start_ns < start_ms * _NS_PER_MS:
        return False
    return end_ms is None or start_ns < (end_ms + 1) * _NS_PER_MS


def span_record(row: SpanRow, with_model: bool) -> dict[str, Any]:
    """The SQL spans row's columns of one stored span."""
    costs: dict[str, Any] = {}
    if row.cost:
        try:
            parsed = json.loads(row.cost)
            costs = parsed if isinstance(parsed, dict) else {}
        except (TypeError, ValueError):
            costs = {}
    record = {
        "span_id": row.span_id,
        "name": row.name,
        "type": row.span_type,
        "status": row.status,
        "latency": None
        if row.end_time_ns is None
        else (row.end_time_ns - row.start_time_ns) // _NS_PER_MS,
        **{k: finite_float_or_none(costs.get(k)) for k in SpanMetricKey.cost_keys()},
    }
    if with_model and row.content:
        attributes = json.loads(row.content).get("attributes") or {}
        record["model_name"] = bounded_model_dimension(
            _try_parse_json_string(attributes.get(SpanAttributeKey.MODEL))
        )
        record["model_provider"] = bounded_model_dimension(
            _try_parse_json_string(attributes.get(SpanAttributeKey.MODEL_PROVIDER))
        )
    return record
