"""What ``log_spans`` derives from a batch of spans, and how it updates a trace's META item.

The rules are those of SqlAlchemyStore.log_spans (mlflow/store/tracking/sqlalchemy_store.py):
the trace's time range widens to cover its spans unless start_trace() finalized it, the root
span sets the status of an in-progress trace and fills missing request/response previews,
token usage and cost are aggregated over the span tree (MLflow's own tree-aware helpers), the
session/user ids come from span attributes, and trace tags come from ``mlflow.traceTag.*``
root-span attributes and OTel resource attributes.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from mlflow.entities import Span, TraceState
from mlflow.entities.span_status import SpanStatusCode
from mlflow.tracing.constant import (
    GenAiSemconvKey,
    SpanAttributeKey,
    SpansLocation,
    TraceMetadataKey,
    TraceTagKey,
)
from mlflow.tracing.otel.translation import translate_span_when_storing
from mlflow.tracing.utils import (
    SpanAggregationNode,
    TraceJSONEncoder,
    aggregate_cost_from_span_nodes,
    aggregate_usage_from_span_nodes,
)

from mlflow_dynamodbstore.compat.helpers import (
    _get_truncated_preview,
    _span_aggregation_node,
    _TraceAggregate,
    _try_parse_json_string,
)
from mlflow_dynamodbstore.compat.trace_analytics import (
    COST_COLUMN_BY_KEY,
    TOKEN_COLUMN_BY_KEY,
    finite_float_or_none,
    token_count_or_none,
    validate_session_id,
    validate_trace_name,
)
from mlflow_dynamodbstore.compat.validation import _validate_trace_tag
from mlflow_dynamodbstore.repositories.traces import span_costs, span_facts
from mlflow_dynamodbstore.repositories.traces.codec import (
    decode_analytics,
    encode_analytics,
    json_text,
)
from mlflow_dynamodbstore.repositories.traces.spans import SpanRow

_logger = logging.getLogger(__name__)


def root_status(spans: list[Span]) -> str | None:
    for span in spans:
        if span.parent_id is None:
            if span.status.status_code == SpanStatusCode.ERROR:
                return TraceState.ERROR.value
            return TraceState.OK.value
    return None


def group_by_trace(spans: Iterable[Span]) -> dict[str, list[Span]]:
    grouped: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        grouped[span.trace_id].append(span)
    return grouped


def aggregate(trace_spans: list[Span]) -> tuple[_TraceAggregate, list[SpanRow]]:
    """The per-trace aggregate and the span rows to store, as SqlAlchemyStore computes them."""
    min_start_ms = min(s.start_time_ns for s in trace_spans) // 1_000_000
    end_times = [s.end_time_ns for s in trace_spans if s.end_time_ns is not None]
    max_end_ms = (max(end_times) // 1_000_000) if end_times else None
    status = root_status(trace_spans)
    usage_nodes: list[SpanAggregationNode] = []
    cost_nodes: list[SpanAggregationNode] = []
    session_id = user_id = root_span_dict = None
    trace_tags: dict[str, str] = {}
    rows: list[SpanRow] = []
    for span in trace_spans:
        span_dict = translate_span_when_storing(span)
        attributes = span_dict.get("attributes", {})
        usage_nodes.append(
            _span_aggregation_node(
                span.span_id, span.parent_id, attributes, SpanAttributeKey.CHAT_USAGE
            )
        )
        cost_nodes.append(
            _span_aggregation_node(
                span.span_id, span.parent_id, attributes, SpanAttributeKey.LLM_COST
            )
        )
        if attributes:
            if session_id is None and (
                span_session := attributes.get(SpanAttributeKey.SESSION_ID)
                or attributes.get(GenAiSemconvKey.CONVERSATION_ID)
            ):
                session_id = validate_session_id(_try_parse_json_string(span_session))
            if user_id is None and (span_user := attributes.get("user.id")):
                user_id = _try_parse_json_string(span_user)
        rows.append(
            SpanRow(
                trace_id=span.trace_id,
                span_id=span.span_id,
                parent_span_id=span.parent_id,
                name=span.name,
                span_type=span.span_type,
                status=span.status.status_code,
                start_time_ns=span.start_time_ns,
                end_time_ns=span.end_time_ns,
                # As the SQL store writes spans.content (non-ASCII text kept as is).
                content=json.dumps(span_dict, cls=TraceJSONEncoder, ensure_ascii=False),
                usage=json_text(attributes.get(SpanAttributeKey.CHAT_USAGE)),
                cost=json_text(attributes.get(SpanAttributeKey.LLM_COST)),
            )
        )
        if span.parent_id is None:
            root_span_dict = span_dict
            trace_tags.update(_root_span_trace_tags(attributes))
    agg = _TraceAggregate(
        min_start_ms=min_start_ms,
        max_end_ms=max_end_ms,
        root_span_status=status,
        trace_status=status or TraceState.IN_PROGRESS.value,
        aggregated_token_usage=aggregate_usage_from_span_nodes(usage_nodes) or {},
        aggregated_cost=aggregate_cost_from_span_nodes(cost_nodes) or {},
        session_id=session_id,
        user_id=user_id,
        root_span_dict=root_span_dict,
        trace_tags=trace_tags,
        usage_nodes=usage_nodes,
        cost_nodes=cost_nodes,
    )
    return agg, rows


def _root_span_trace_tags(attributes: dict[str, Any]) -> dict[str, str]:
    """User tags carried as ``mlflow.traceTag.<key>`` root-span attributes (OTLP export)."""
    tags = {}
    prefix = SpanAttributeKey.TRACE_TAG_PREFIX
    for attr_key, attr_value in attributes.items():
        if not attr_key.startswith(prefix):
            continue
        tag_value = str(_try_parse_json_string(attr_value))
        try:
            tag_key, tag_value = _validate_trace_tag(attr_key[len(prefix) :], tag_value)
        except Exception:
            _logger.debug("Skipping invalid trace tag from OTLP attribute %r", attr_key)
            continue
        if tag_key == TraceTagKey.TRACE_NAME:
            tag_value = validate_trace_name(tag_value)
        tags[tag_key] = tag_value
    return tags


def resource_tags(trace_spans: list[Span]) -> dict[str, str]:
    """OTel resource attributes (e.g. service.name) of the batch, as trace tags."""
    resource = next(
        (
            r
            for span in trace_spans
            if (r := getattr(span._span, "resource", None)) is not None and r.attributes
        ),
        None,
    )
    tags: dict[str, str] = {}
    if resource is None:
        return tags
    for key, value in resource.attributes.items():
        if key.startswith(("telemetry.sdk.", "mlflow.")):
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        try:
            key, text = _validate_trace_tag(key, text)
        except Exception:
            continue
        tags[key] = text
    return tags


def stored_nodes(
    rows: Iterable[SpanRow], batch_span_ids: set[str]
) -> tuple[list[SpanAggregationNode], list[SpanAggregationNode]]:
    """Usage and cost nodes of spans stored by earlier calls (this batch's spans skipped)."""
    usage, cost = [], []
    for row in rows:
        if row.span_id in batch_span_ids:
            continue
        usage.append(
            _span_aggregation_node(
                row.span_id,
                row.parent_span_id,
                {SpanAttributeKey.CHAT_USAGE: row.usage} if row.usage else {},
                SpanAttributeKey.CHAT_USAGE,
            )
        )
        cost.append(
            _span_aggregation_node(
                row.span_id,
                row.parent_span_id,
                {SpanAttributeKey.LLM_COST: row.cost} if row.cost else {},
                SpanAttributeKey.LLM_COST,
            )
        )
    return usage, cost


def is_finalized(item: dict[str, Any]) -> bool:
    return TraceMetadataKey.TRACE_INFO_FINALIZED in (item.get("metadata") or {})


def authoritative(item: dict[str, Any], columns: Iterable[str]) -> bool:
    """start_trace() wrote these analytics columns: log_spans must not override them."""
    analytics = item.get("analytics") or {}
    return is_finalized(item) and any(c in analytics for c in columns)


def needs_stored_nodes(item: dict[str, Any], agg: _TraceAggregate, created: bool) -> bool:
    if created:
        return False
    return bool(
        (agg.aggregated_token_usage and not authoritative(item, TOKEN_COLUMN_BY_KEY.values()))
        or (agg.aggregated_cost and not authoritative(item, COST_COLUMN_BY_KEY.values()))
    )


def apply_batch(
    item: dict[str, Any],
    before: dict[str, Any],
    agg: _TraceAggregate,
    *,
    created: bool,
    stored: tuple[list[SpanAggregationNode], list[SpanAggregationNode]],
    extra_tags: dict[str, str],
    rows: Iterable[SpanRow] = (),
) -> dict[str, Any]:
    """The META item after one log_spans batch (SqlAlchemyStore's phase 5). ``before`` is
    the item as it was when the call started (previews and authority are judged on it);
    ``rows`` are the batch's stored spans, whose facts META keeps (span_facts.py)."""
    span_facts.merge_into(item, rows, created=created)
    span_costs.merge_into(item, rows, created=created)
    # As in the SQL store, start_trace()'s finalized time range is only protected when the
    # batch carries token usage, cost or a session id (it reads the marker only then).
    carries_analytics = bool(agg.aggregated_token_usage or agg.aggregated_cost or agg.session_id)
    if not (carries_analytics and is_finalized(before)):
        old_ts = int(item["timestamp_ms"])
        new_ts = min(old_ts, agg.min_start_ms)
        if agg.max_end_ms is not None:
            old_exec = item.get("execution_time_ms")
            old_end = None if old_exec is None else old_ts + int(old_exec)
            end = old_end if old_end is not None and old_end > agg.max_end_ms else agg.max_end_ms
            item["execution_time_ms"] = end - new_ts
        item["timestamp_ms"] = new_ts
    unfinished = (TraceState.IN_PROGRESS.value, TraceState.STATE_UNSPECIFIED.value)
    if item["status"] in unfinished and agg.root_span_status:
        item["status"] = agg.root_span_status
    if agg.root_span_dict:
        attributes = agg.root_span_dict.get("attributes", {})
        try:
            if before.get("request_preview") is None and (
                inputs := attributes.get(SpanAttributeKey.INPUTS)
            ):
                item["request_preview"] = _get_truncated_preview(inputs, role="user")
            if before.get("response_preview") is None and (
                outputs := attributes.get(SpanAttributeKey.OUTPUTS)
            ):
                item["response_preview"] = _get_truncated_preview(outputs, role="assistant")
        except Exception:
            _logger.debug("Failed to update trace previews", exc_info=True)
    if TraceTagKey.TRACE_NAME in agg.trace_tags:
        item["trace_name"] = agg.trace_tags[TraceTagKey.TRACE_NAME]

    analytics = decode_analytics(item.get("analytics"))
    stored_usage, stored_cost = stored
    if agg.aggregated_token_usage and not authoritative(before, TOKEN_COLUMN_BY_KEY.values()):
        usage = (
            agg.aggregated_token_usage
            if created
            else aggregate_usage_from_span_nodes(agg.usage_nodes + stored_usage)
        )
        for key, column in TOKEN_COLUMN_BY_KEY.items():
            if (value := token_count_or_none((usage or {}).get(key))) is not None:
                analytics[column] = value
    if agg.aggregated_cost and not authoritative(before, COST_COLUMN_BY_KEY.values()):
        cost = (
            agg.aggregated_cost
            if created
            else aggregate_cost_from_span_nodes(agg.cost_nodes + stored_cost)
        )
        for key, column in COST_COLUMN_BY_KEY.items():
            if (value := finite_float_or_none((cost or {}).get(key))) is not None:
                analytics[column] = value
    if agg.session_id and analytics.get("session_id") is None:
        analytics["session_id"] = agg.session_id
    item["analytics"] = encode_analytics(analytics)

    metadata = dict(item.get("metadata") or {})
    if agg.user_id and TraceMetadataKey.TRACE_USER not in metadata:
        metadata[TraceMetadataKey.TRACE_USER] = agg.user_id
    item["metadata"] = metadata

    tags = dict(item.get("tags") or {})
    tags[TraceTagKey.SPANS_LOCATION] = SpansLocation.TRACKING_STORE.value
    tags.update(extra_tags)
    tags.update({k: v for k, v in agg.trace_tags.items() if k != TraceTagKey.TRACE_NAME})
    item["tags"] = tags
    return item


def batch_change(before, agg, created, stored, extra_tags, rows=()):
    """The ``mutate`` callback applying one batch to the current META item."""

    def change(current: dict[str, Any]) -> dict[str, Any]:
        return apply_batch(
            current,
            before,
            agg,
            created=created,
            stored=stored,
            extra_tags=extra_tags,
            rows=rows,
        )

    return change
