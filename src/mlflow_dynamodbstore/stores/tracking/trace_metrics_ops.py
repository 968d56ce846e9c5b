"""Trace analytics: ``query_trace_metrics`` (the experiment overview charts and the Traces
tab's counters), ``calculate_trace_filter_correlation`` (NPMI of two trace filters),
``find_completed_sessions``, with SqlAlchemyStore's validation and results
(docs/trace-analytics.md)."""

from __future__ import annotations

from mlflow.entities.trace_metrics import MetricAggregation, MetricDataPoint, MetricViewType
from mlflow.exceptions import MlflowException
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking import MAX_RESULTS_QUERY_TRACE_METRICS
from mlflow.store.tracking.utils.sql_trace_metrics_utils import (
    validate_query_trace_metrics_params,
)
from mlflow.tracing.analysis import TraceFilterCorrelationResult

from mlflow_dynamodbstore.compat.validation import _parse_experiment_id
from mlflow_dynamodbstore.search.trace_metrics.correlation import TraceFilterCorrelation
from mlflow_dynamodbstore.search.trace_metrics.query import TraceMetricsQuery
from mlflow_dynamodbstore.search.trace_metrics.session_index import find_completed_sessions


class TraceMetricsOps:
    """Mixed into TraceOps (which provides ``traces``, ``spans`` and
    ``_visible_experiment_ids``)."""

    def query_trace_metrics(
        self,
        experiment_ids: list[str],
        view_type: MetricViewType,
        metric_name: str,
        aggregations: list[MetricAggregation],
        dimensions: list[str] | None = None,
        filters: list[str] | None = None,
        time_interval_seconds: int | None = None,
        start_time_ms: int | None = None,
        end_time_ms: int | None = None,
        max_results: int = MAX_RESULTS_QUERY_TRACE_METRICS,
        page_token: str | None = None,
    ) -> PagedList[MetricDataPoint]:
        validate_query_trace_metrics_params(view_type, metric_name, aggregations, dimensions)
        if time_interval_seconds and (start_time_ms is None or end_time_ms is None):
            raise MlflowException.invalid_parameter_value(
                "start_time_ms and end_time_ms are required if time_interval_seconds is set"
            )
        experiment_ids = self._visible_experiment_ids(experiment_ids)
        points = TraceMetricsQuery(self.traces, self.spans).run(
            experiment_ids,
            view_type,
            metric_name,
            aggregations,
            dimensions,
            filters,
            time_interval_seconds,
            start_time_ms,
            end_time_ms,
            max_results,
        )
        # As the SQL store: one page, no token (its pagination is a TODO upstream).
        return PagedList(points, None)

    def calculate_trace_filter_correlation(
        self,
        experiment_ids: list[str],
        filter_string1: str,
        filter_string2: str,
        base_filter: str | None = None,
    ) -> TraceFilterCorrelationResult:
        # As the SQL store: unknown experiments count nothing, bad ids and filters raise.
        visible = self._visible_experiment_ids(experiment_ids)
        return TraceFilterCorrelation(self.traces, self.spans).calculate(
            visible, filter_string1, filter_string2, base_filter
        )

    def find_completed_sessions(
        self,
        experiment_id: str,
        min_last_trace_timestamp_ms: int,
        max_last_trace_timestamp_ms: int,
        max_results: int | None = None,
        filter_string: str | None = None,
    ):
        experiment_id = str(_parse_experiment_id(experiment_id))
        visible = self._visible_experiment_ids([experiment_id])
        if not visible:
            return []
        return find_completed_sessions(
            self.traces,
            self.spans,
            visible[0],
            min_last_trace_timestamp_ms,
            max_last_trace_timestamp_ms,
            max_results,
            filter_string,
        )
