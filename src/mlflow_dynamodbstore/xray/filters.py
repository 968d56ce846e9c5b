"""The search fallback's X-Ray side: MLflow span clauses -> an X-Ray filter expression over
the processor's annotations, and GetTraceSummaries over a bounded time range.

Only ``=`` on span name, type and status is translated (``annotation.mlflow_span_type =
"LLM"``); clauses joined with AND. X-Ray matches each annotation on any segment of a trace,
MLflow needs every clause on one span: the answer is a superset, and the caller checks each
hit exactly on its spans. Other clauses (LIKE, !=, attributes, content) are not sent; with
none translatable there is no expression and the caller reads the spans themselves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from mlflow_dynamodbstore.xray import annotations as ann
from mlflow_dynamodbstore.xray.source import trace_ids_of_summaries

_ANNOTATION_BY_KEY = {"name": ann.SPAN_NAME, "type": ann.SPAN_TYPE, "status": ann.SPAN_STATUS}
# GetTraceSummaries takes at most this much time per call: longer ranges are split.
MAX_WINDOW_SECONDS = 6 * 3600


def to_filter_expression(span_clauses: list[tuple[str, str, Any]]) -> str | None:
    parts = []
    for key, comparator, value in span_clauses:
        annotation = _ANNOTATION_BY_KEY.get(key)
        if annotation is None or comparator != "=" or not isinstance(value, str):
            continue
        parts.append(f"annotation.{annotation} = {ann.escape_value(value)}")
    return " AND ".join(dict.fromkeys(parts)) or None


def windows(start_s: float, end_s: float) -> Iterator[tuple[float, float]]:
    """[start, end] cut into GetTraceSummaries-sized windows."""
    while start_s < end_s:
        stop = min(start_s + MAX_WINDOW_SECONDS, end_s)
        yield start_s, stop
        start_s = stop


def matching_trace_ids(client: Any, expression: str, start_s: float, end_s: float) -> set[str]:
    """MLflow ids of the traces X-Ray finds for ``expression`` whose id time (the trace's
    start) is in [start_s, end_s]: one call per window and page."""
    found: set[str] = set()
    for low, high in windows(start_s, end_s):
        kwargs: dict[str, Any] = {
            "StartTime": dt.datetime.fromtimestamp(low, dt.UTC),
            "EndTime": dt.datetime.fromtimestamp(high, dt.UTC),
            "TimeRangeType": "TraceId",
            "FilterExpression": expression,
        }
        while True:
            response = client.get_trace_summaries(**kwargs)
            found |= trace_ids_of_summaries(response.get("TraceSummaries") or ())
            token = response.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
    return found
