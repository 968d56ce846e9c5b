"""``filters`` of query_trace_metrics: each string is one ``<view>.<entity>[.<key>] = 'v'``
clause parsed by MLflow's ``SearchTraceMetricsUtils``; here each becomes a predicate on a
trace record (the decoded stats or META item) or on a span / assessment record, with the
SQL store's meaning (``_apply_filters`` in sql_trace_metrics_utils.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlflow.entities.trace_metrics import MetricViewType
from mlflow.exceptions import MlflowException
from mlflow.tracing.constant import (
    AssessmentMetricSearchKey,
    SpanMetricSearchKey,
    TraceMetadataKey,
    TraceMetricSearchKey,
    TraceTagKey,
)
from mlflow.utils.search_utils import SearchTraceMetricsUtils

from mlflow_dynamodbstore.compat.trace_analytics import (
    TRACE_ANALYTICS_COLUMNS_BY_METADATA_KEY,
    finite_float_or_none,
    token_count_or_none,
)

Record = dict[str, Any]
Predicate = Callable[[Record], bool]


@dataclass
class ParsedFilters:
    trace: list[Predicate]  # on the trace record
    span: list[Predicate]  # on a span record (SPANS view)
    assessment: list[Predicate]  # on an assessment record (ASSESSMENTS view)
    needs_trace_item: bool  # a trace predicate reads tags/metadata/runs only META holds


def _analytics_matches(key: str, value: str) -> Predicate:
    """``trace.metadata.mlflow.trace.tokenUsage|cost = '<json>'``: as the SQL store, only the
    canonical JSON of the stored columns matches (get_trace_analytics_metadata_filter)."""
    columns = TRACE_ANALYTICS_COLUMNS_BY_METADATA_KEY[key]
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        parsed = None
    convert = token_count_or_none if key == TraceMetadataKey.TOKEN_USAGE else finite_float_or_none
    normalized = (
        {k: c for k in columns if (c := convert(parsed.get(k))) is not None}
        if isinstance(parsed, dict) and set(parsed).issubset(columns)
        else {}
    )
    if not normalized or value != json.dumps(normalized):
        return lambda _r: False

    def matches(record: Record) -> bool:
        for item_key, column in columns.items():
            stored = record.get(column)
            if item_key in normalized:
                if stored is None or stored != normalized[item_key]:
                    return False
            elif stored is not None:
                return False
        return True

    return matches


def _trace_predicate(entity: str, key: str | None, value: str) -> tuple[Predicate, bool]:
    """(predicate, whether it needs the META item)."""
    if entity == TraceMetricSearchKey.STATUS:
        return (lambda r: r.get("status") == value), False
    if entity == TraceMetricSearchKey.METADATA:
        if key == TraceMetadataKey.TRACE_SESSION:
            return (lambda r: r.get("session_id") == value), False
        if key in TRACE_ANALYTICS_COLUMNS_BY_METADATA_KEY:
            return _analytics_matches(key, value), False
        if key == TraceMetadataKey.SOURCE_RUN:
            # The metadata key or a link_traces_to_run() association, as the SQL store.
            return (
                lambda r: (
                    (r.get("metadata") or {}).get(key) == value
                    or value in (r.get("linked_runs") or ())
                )
            ), True
        return (lambda r: (r.get("metadata") or {}).get(key) == value), True
    # TraceMetricSearchKey.TAG
    if key == TraceTagKey.TRACE_NAME:
        return (lambda r: r.get("trace_name") == value), False
    return (lambda r: (r.get("tags") or {}).get(key) == value), True


def _span_predicate(entity: str, value: str) -> Predicate:
    column = {
        SpanMetricSearchKey.NAME: "name",
        SpanMetricSearchKey.STATUS: "status",
        SpanMetricSearchKey.TYPE: "type",
    }[entity]
    return lambda s: s.get(column) == value


def _assessment_predicate(entity: str, value: str) -> Predicate:
    column = {
        AssessmentMetricSearchKey.NAME: "name",
        AssessmentMetricSearchKey.TYPE: "assessment_type",
    }[entity]
    return lambda a: a.get(column) == value


def parse_filters(filters: list[str] | None, view_type: MetricViewType) -> ParsedFilters:
    parsed = ParsedFilters([], [], [], False)
    for filter_string in filters or []:
        f = SearchTraceMetricsUtils.parse_search_filter(filter_string)
        if f.view_type == TraceMetricSearchKey.VIEW_TYPE:
            predicate, needs_item = _trace_predicate(f.entity, f.key, f.value)
            parsed.trace.append(predicate)
            parsed.needs_trace_item |= needs_item
        elif f.view_type == SpanMetricSearchKey.VIEW_TYPE:
            if view_type != MetricViewType.SPANS:
                raise MlflowException.invalid_parameter_value(
                    f"Filtering by span is only supported for {MetricViewType.SPANS} view "
                    f"type, got {view_type}",
                )
            parsed.span.append(_span_predicate(f.entity, f.value))
        elif f.view_type == AssessmentMetricSearchKey.VIEW_TYPE:
            if view_type != MetricViewType.ASSESSMENTS:
                raise MlflowException.invalid_parameter_value(
                    "Filtering by assessment is only supported for "
                    f"{MetricViewType.ASSESSMENTS} view type, got {view_type}",
                )
            parsed.assessment.append(_assessment_predicate(f.entity, f.value))
    return parsed
