"""query_trace_metrics of span costs from the span cost rollup cells: the Overview page's cost
charts (``total_cost`` SUM by ``span_model_name`` or ``span_model_provider``, with or without
time buckets), docs/trace-analytics.md "Span cost per model from cells".

Answered from cells: ``input_cost`` / ``output_cost`` / ``total_cost``; SUM and AVG; grouped
by nothing, model name and/or model provider; no filter; no time bucket or a whole number of
hours; a range closed on both sides (the Overview always sends both) holding a whole hour.
Everything else takes the exact path.

- The range's whole span-start hours come from cells (P x 4 Queries, P = 30-day periods).
- Its partial first and last hour (edges) come from the traces that hold their spans: the
  cells of an edge hour name them by their lag (trace hour = span hour - lag), and those
  trace hours' META items (one listing Query per MB) carry each costed span's start, model
  and costs (span_costs.py). No span item is read.
- A trace whose costs are not summed (its hour's "not summed" cell, looked for from 24 hours
  before the range, the exact path's look-back) sends the query to the exact path.
- Sums are exact decimal sums of the costs (the float's shortest text); the answer is that
  sum rounded once to a float (AVG: that float / count). SQLite adds the floats one by one,
  rounding at each step, so the two can differ in the last bits (docs: a deliberate,
  bounded difference).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Context, Decimal
from typing import Any

from mlflow.entities.trace_metrics import (
    AggregationType,
    MetricAggregation,
    MetricDataPoint,
    MetricViewType,
)
from mlflow.tracing.constant import SpanMetricDimensionKey

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.repositories.traces import cost_rollups as cells_repo
from mlflow_dynamodbstore.repositories.traces import span_costs
from mlflow_dynamodbstore.repositories.traces.repository import TraceRepository
from mlflow_dynamodbstore.schema.cost_rollup_keys import parse_cost_cell
from mlflow_dynamodbstore.schema.trace_rollup_keys import ROLLUP_BUCKET_MS, rollup_hour
from mlflow_dynamodbstore.search.trace_metrics.aggregate import (
    time_bucket,
)
from mlflow_dynamodbstore.search.trace_metrics.cells import cell_points, whole_hours

_NS_PER_MS = 1_000_000
_AGGREGATIONS = {AggregationType.SUM, AggregationType.AVG}
# dimension -> its place in a cell's labels (lag, model name, model provider).
_DIMENSIONS = {
    SpanMetricDimensionKey.SPAN_MODEL_NAME: 1,
    SpanMetricDimensionKey.SPAN_MODEL_PROVIDER: 2,
}
# "Not summed" traces are looked for this far before the range: the exact path finds span
# costs' traces by trace timestamp with the same look-back (query.SPAN_COST_LOOKBACK_MS).
LOOKBACK_MS = 24 * 3600 * 1000
_EXACT = Context(prec=60)


@dataclass(frozen=True)
class CostRollupPlan:
    metric_name: str
    column: int  # the metric's place in cost_rollups.COLUMNS
    aggregations: list[MetricAggregation]
    dimensions: list[str]
    time_interval_seconds: int | None


def plan_cost_rollup(
    view_type: MetricViewType,
    metric_name: str,
    aggregations: list[MetricAggregation],
    dimensions: list[str] | None,
    filters: list[str] | None,
    time_interval_seconds: int | None,
) -> CostRollupPlan | None:
    """The plan when the cost cells answer this query, else None (the exact path)."""
    if view_type != MetricViewType.SPANS or metric_name not in cells_repo.COLUMNS:
        return None
    if not aggregations or any(a.aggregation_type not in _AGGREGATIONS for a in aggregations):
        return None
    if any(d not in _DIMENSIONS for d in dimensions or []) or filters:
        return None
    if time_interval_seconds and (int(time_interval_seconds) * 1000) % ROLLUP_BUCKET_MS:
        return None
    return CostRollupPlan(
        metric_name=metric_name,
        column=cells_repo.COLUMNS.index(metric_name),
        aggregations=list(aggregations),
        dimensions=list(dimensions or []),
        time_interval_seconds=int(time_interval_seconds) if time_interval_seconds else None,
    )


@dataclass
class _Partial:
    count: int = 0
    total: Decimal = field(default_factory=Decimal)


class _Groups:
    def __init__(self, plan: CostRollupPlan):
        self.plan = plan
        self.groups: dict[tuple, _Partial] = {}

    def add(self, start_ms: int, model: Any, provider: Any, count: int, total: Decimal) -> None:
        labels = (None, model, provider)
        dims = [labels[_DIMENSIONS[d]] for d in self.plan.dimensions]
        if count <= 0 or any(v is None for v in dims):
            return  # no row / SQL drops rows with a NULL grouping column
        key = tuple(dims)
        if self.plan.time_interval_seconds:
            key = (time_bucket(start_ms * _NS_PER_MS, self.plan.time_interval_seconds), *key)
        partial = self.groups.setdefault(key, _Partial())
        partial.count += count
        partial.total = _EXACT.add(partial.total, total)

    def points(self, max_results: int) -> list[MetricDataPoint]:
        plan = self.plan

        def values(partial: _Partial) -> dict[str, Any]:
            total = float(partial.total)  # the exact sum, rounded once
            return {
                str(a): total
                if a.aggregation_type == AggregationType.SUM
                else total / partial.count
                for a in plan.aggregations
            }

        return cell_points(
            plan.metric_name, plan.time_interval_seconds, plan.dimensions, self.groups,
            max_results, values,
        )  # fmt: skip


class CostRollupQuery:
    def __init__(self, gateway: TableGateway, traces: TraceRepository):
        self.gateway = gateway
        self.traces = traces

    def run(
        self,
        plan: CostRollupPlan,
        experiment_ids: Iterable[str],
        start_ms: int,
        end_ms: int,
        max_results: int,
    ) -> list[MetricDataPoint] | None:
        """The data points, or None when the cells cannot answer (no whole hour in the range,
        a trace whose costs are not summed): the caller takes the exact path."""
        span = whole_hours(start_ms, end_ms)
        if span is None:
            return None
        groups = _Groups(plan)
        s_attr = cells_repo.sum_attr(cells_repo.COLUMNS[plan.column])
        c_attr = cells_repo.count_attr(cells_repo.COLUMNS[plan.column])
        edge_hours = {rollup_hour(low) for low, _ in span.edges}
        for experiment_id in experiment_ids:
            cells = cells_repo.read_cells(
                self.gateway, experiment_id, rollup_hour(start_ms) - LOOKBACK_MS, end_ms
            )
            trace_hours: set[int] = set()  # the trace hours holding the edges' spans
            for cell in cells:
                hour, labels = parse_cost_cell(cell)
                if labels is None:
                    if int(cell.get(cells_repo.UNKNOWN_ATTR, 0)) > 0:
                        return None  # a trace whose costs are not summed: the exact path
                    continue
                lag, model, provider = labels
                if span.first_hour <= hour < span.end_hour:
                    count = int(cell.get(c_attr, 0))
                    groups.add(hour, model, provider, count, Decimal(cell.get(s_attr, 0)))
                elif hour in edge_hours and _moves_anything(cell):
                    trace_hours.add(hour - lag * ROLLUP_BUCKET_MS)
            if not self._add_edges(groups, plan, experiment_id, span.edges, trace_hours):
                return None
        return groups.points(max_results)

    def _add_edges(
        self,
        groups: _Groups,
        plan: CostRollupPlan,
        experiment_id: str,
        edges: tuple[tuple[int, int], ...],
        trace_hours: set[int],
    ) -> bool:
        """Add the costed spans of the edges from their traces' META items (False: a trace
        there does not know its costs)."""
        for trace_hour in sorted(trace_hours):
            items = self.traces.list_experiment(
                experiment_id, oldest=trace_hour, newest=trace_hour + ROLLUP_BUCKET_MS - 1
            )
            for item in items:
                facts = span_costs.known_facts(item)
                if facts is None:
                    return False
                for start, model, provider, *values in facts.values():
                    value = values[plan.column]
                    if value is None:
                        continue
                    if any(low <= int(start) <= high for low, high in edges):
                        groups.add(int(start), model, provider, 1, Decimal(str(value)))
        return True


def _moves_anything(cell: dict[str, Any]) -> bool:
    return any(int(cell.get(cells_repo.count_attr(c), 0)) for c in cells_repo.COLUMNS)
