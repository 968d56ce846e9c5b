"""A trace's META item <-> MLflow's TraceInfo.

The META item holds what the SQL store keeps in ``trace_info``, ``trace_tags``,
``trace_request_metadata`` and ``assessments`` for one trace:

- the columns (``timestamp_ms``, ``execution_time_ms``, ``status``, ``client_request_id``,
  ``request_preview``, ``response_preview``, ``trace_name``);
- ``tags`` and ``metadata`` maps (``mlflow.traceName`` lives in ``trace_name`` and the
  promoted metadata keys in ``analytics``, as in the SQL store);
- ``analytics``: the SQL store's denormalised session id, token and cost columns, as text
  (costs are doubles DynamoDB numbers cannot always hold);
- ``assessments``: assessment id -> the SQL store's assessment columns (converted with
  MLflow's own ``SqlAssessments``), with ``order`` keeping creation order;
- ``linked_runs``: runs the trace was linked to by ``link_traces_to_run``;
- ``linked_prompts``: ``name/version`` of the prompt versions ``link_prompts_to_trace``
  linked it to (the SQL store's trace -> prompt version associations);
- ``version``: optimistic-locking counter, incremented by every write.
"""

from __future__ import annotations

import json
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from mlflow.entities import TraceInfo, TraceLocation, TraceState
from mlflow.entities.assessment import Assessment
from mlflow.store.tracking.dbmodels.models import SqlAssessments
from mlflow.tracing.constant import SpansLocation, TraceTagKey

from mlflow_dynamodbstore.compat.assessments import aggregate_columns, sql_assessment_row
from mlflow_dynamodbstore.compat.trace_analytics import (
    COST_COLUMN_BY_KEY,
    PROMOTED_TRACE_METADATA_KEYS,
    TOKEN_COLUMN_BY_KEY,
    compatibility_metadata_from_columns,
)
from mlflow_dynamodbstore.schema import (
    indexes,
    keys,
    trace_archival_keys,
    trace_name_keys,
    trace_name_order_keys,
    trace_order_keys,
)

TOKEN_COLUMNS = frozenset(TOKEN_COLUMN_BY_KEY.values())
COST_COLUMNS = frozenset(COST_COLUMN_BY_KEY.values())
ANALYTICS_COLUMNS = ("session_id", *TOKEN_COLUMN_BY_KEY.values(), *COST_COLUMN_BY_KEY.values())

# SqlAssessments columns kept per assessment (trace_id is the item's own).
_ASSESSMENT_COLUMNS = (
    "assessment_id",
    "name",
    "assessment_type",
    "value",
    "error",
    "created_timestamp",
    "last_updated_timestamp",
    "source_type",
    "source_id",
    "run_id",
    "span_id",
    "rationale",
    "overrides",
    "valid",
    "assessment_metadata",
    "aggregate_value",
    "is_numeric_value",
)


# Set on META by archival's flip, removed once the span items lost their content
# (repositories/traces/archival.py).
STRIP_PENDING = "archive_strip"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def awaits_archival(item: dict[str, Any]) -> bool:
    """Whether archival still has work on this trace: its spans are in the table, or it was
    archived and the strip of its span items is pending."""
    location = (item.get("tags") or {}).get(TraceTagKey.SPANS_LOCATION)
    return location in (None, SpansLocation.TRACKING_STORE.value) or bool(item.get(STRIP_PENDING))


def finalize(item: dict[str, Any]) -> dict[str, Any]:
    """Recompute the keys of a META item from its attributes and drop empty attributes."""
    out = {k: v for k, v in item.items() if v is not None}
    out.update(keys.trace_key(item["trace_id"]))
    out.update(keys.trace_list_keys(item["experiment_id"], item["timestamp_ms"], item["trace_id"]))
    out.update(execution_time_keys(item))
    # The name listing (schema/trace_name_keys.py): a renamed trace moves; an unnamed one
    # (the SQL store's NULL) is on the nameless listing instead (schema/
    # trace_name_order_keys.py), which shares the key attributes.
    for attribute in indexes.TRACES_BY_NAME.key_attributes:
        out.pop(attribute, None)
    if out.get("trace_name") is not None:
        out.update(name_listing_keys(out))
    else:
        out.update(nameless_listing_keys(out))
    # Archival's listing holds only the traces it still has work on (sparse): the META
    # write that archives a trace takes it out.
    for attribute in indexes.TRACES_NOT_ARCHIVED.key_attributes:
        out.pop(attribute, None)
    if awaits_archival(out):
        out.update(
            trace_archival_keys.unarchived_list_keys(
                item["experiment_id"], item["timestamp_ms"], item["trace_id"]
            )
        )
    for linked in ("linked_runs", "linked_prompts"):
        if not out.get(linked):
            out.pop(linked, None)  # DynamoDB string sets cannot be empty
    return out


def name_listing_keys(item: dict[str, Any]) -> dict[str, str]:
    """The trace's TRACES_BY_NAME keys (it must have a name)."""
    return trace_name_keys.by_name_keys(
        item["experiment_id"], item["trace_name"], item["timestamp_ms"], item["trace_id"]
    )


def nameless_listing_keys(item: dict[str, Any]) -> dict[str, str]:
    """The trace's TRACES_WITHOUT_NAME keys (it must have no name)."""
    return trace_name_order_keys.nameless_keys(
        item["experiment_id"], item["timestamp_ms"], item["trace_id"]
    )


def execution_time_keys(item: dict[str, Any]) -> dict[str, str]:
    """The trace's TRACES_BY_EXECUTION_TIME keys (schema/trace_order_keys.py)."""
    return trace_order_keys.execution_time_keys(
        item["experiment_id"], item.get("execution_time_ms"), item["timestamp_ms"], item["trace_id"]
    )


# ---- analytics columns ---------------------------------------------------------------
def encode_analytics(columns: dict[str, Any]) -> dict[str, str]:
    return {k: (v if k == "session_id" else repr(v)) for k, v in columns.items() if v is not None}


def decode_analytics(stored: dict[str, Any] | None) -> dict[str, Any]:
    values: dict[str, Any] = dict.fromkeys(ANALYTICS_COLUMNS)
    for key, text in (stored or {}).items():
        if key in TOKEN_COLUMNS:
            values[key] = int(text)
        elif key in COST_COLUMNS:
            values[key] = float(text)
        else:
            values[key] = text
    return values


# ---- assessments ---------------------------------------------------------------------
def assessment_columns(sql_assessment: SqlAssessments, order: int) -> dict[str, Any]:
    cols = {c: getattr(sql_assessment, c, None) for c in _ASSESSMENT_COLUMNS}
    cols.update(aggregate_columns(sql_assessment))
    if cols["aggregate_value"] is not None:
        cols["aggregate_value"] = repr(float(cols["aggregate_value"]))
    cols["valid"] = bool(cols["valid"]) if cols["valid"] is not None else True
    cols["is_numeric_value"] = bool(cols["is_numeric_value"])
    cols["order"] = order
    return {k: v for k, v in cols.items() if v is not None}


def sql_assessment(trace_id: str, stored: dict[str, Any]) -> SqlAssessments:
    cols = {c: _plain(stored.get(c)) for c in _ASSESSMENT_COLUMNS}
    if cols["aggregate_value"] is not None:
        cols["aggregate_value"] = float(cols["aggregate_value"])
    return sql_assessment_row(trace_id=trace_id, **cols)


def ordered_assessments(item: dict[str, Any]) -> list[dict[str, Any]]:
    stored = (item.get("assessments") or {}).values()
    return sorted(stored, key=lambda a: (int(a.get("order", 0)), a["assessment_id"]))


def to_assessments(item: dict[str, Any]) -> list[Assessment]:
    return [
        sql_assessment(item["trace_id"], a).to_mlflow_entity() for a in ordered_assessments(item)
    ]


# ---- TraceInfo -------------------------------------------------------------------------
def visible_metadata(item: dict[str, Any]) -> dict[str, str]:
    """Trace metadata as MLflow returns it: stored keys, with the promoted keys rebuilt from
    the analytics columns (session id, token usage and cost JSON)."""
    metadata = {
        k: v
        for k, v in (item.get("metadata") or {}).items()
        if k not in PROMOTED_TRACE_METADATA_KEYS
    }
    metadata.update(
        compatibility_metadata_from_columns(
            SimpleNamespace(**decode_analytics(item.get("analytics")))
        )
    )
    return metadata


def visible_tags(item: dict[str, Any]) -> dict[str, str]:
    tags = {k: v for k, v in (item.get("tags") or {}).items() if k != TraceTagKey.TRACE_NAME}
    if item.get("trace_name") is not None:
        tags[TraceTagKey.TRACE_NAME] = item["trace_name"]
    return tags


def to_trace_info(item: dict[str, Any]) -> TraceInfo:
    execution = item.get("execution_time_ms")
    return TraceInfo(
        trace_id=item["trace_id"],
        trace_location=TraceLocation.from_experiment_id(str(item["experiment_id"])),
        request_time=int(item["timestamp_ms"]),
        execution_duration=None if execution is None else int(execution),
        state=TraceState(item["status"]),
        tags=visible_tags(item),
        trace_metadata=visible_metadata(item),
        client_request_id=item.get("client_request_id"),
        request_preview=item.get("request_preview"),
        response_preview=item.get("response_preview"),
        assessments=to_assessments(item),
    )


def json_text(value: Any) -> str | None:
    """A span attribute value as JSON text (it may arrive as text or as a parsed value)."""
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)
