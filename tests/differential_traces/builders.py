"""Building blocks of trace scenarios: spans as the OTLP endpoint builds them, trace infos,
and plain, comparable views of traces."""

from __future__ import annotations

import json
from typing import Any

from mlflow.entities import Trace, TraceInfo, TraceLocation, TraceState
from mlflow.entities.span import Span, create_mlflow_span
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanContext, TraceFlags
from opentelemetry.trace.status import Status, StatusCode

# Span start times are far below the harness's clock floor, so they are compared as is.
BASE_MS = 1_600_000_000_000


def hex_id(n: int) -> str:
    return f"{n:032x}"


def tid(n: int) -> str:
    """The MLflow trace id of OTel trace number ``n``."""
    return f"tr-{hex_id(n)}"


def span(
    trace: int,
    span_id: int,
    parent: int | None,
    name: str,
    start_ms: int,
    end_ms: int | None,
    attributes: dict[str, Any] | None = None,
    *,
    error: bool = False,
    resource: dict[str, Any] | None = None,
    events: list[tuple[str, int, dict[str, Any]]] | None = None,
) -> Span:
    trace_int = int(hex_id(trace), 16)
    context = SpanContext(
        trace_id=trace_int, span_id=span_id, is_remote=False, trace_flags=TraceFlags(1)
    )
    parent_ctx = (
        SpanContext(trace_id=trace_int, span_id=parent, is_remote=False) if parent else None
    )
    attrs = {"mlflow.traceRequestId": json.dumps(tid(trace))}
    attrs.update({k: json.dumps(v) for k, v in (attributes or {}).items()})
    otel = ReadableSpan(
        name=name,
        context=context,
        parent=parent_ctx,
        attributes=attrs,
        start_time=(BASE_MS + start_ms) * 1_000_000,
        end_time=None if end_ms is None else (BASE_MS + end_ms) * 1_000_000,
        status=Status(StatusCode.ERROR if error else StatusCode.OK),
        resource=Resource(resource or {}),
        events=[
            Event(name, attrs, timestamp=(BASE_MS + at_ms) * 1_000_000)
            for name, at_ms, attrs in events or []
        ],
    )
    return create_mlflow_span(otel, tid(trace))


def simple_trace(trace: int, start_ms: int = 0, duration: int = 10, **root_attrs) -> list[Span]:
    """A root span with one child."""
    return [
        span(trace, 1, None, f"root{trace}", start_ms, start_ms + duration, root_attrs or None),
        span(trace, 2, 1, "child", start_ms + 1, start_ms + duration - 1, {"k": "v"}),
    ]


def info(
    trace_id: str,
    experiment_id: str,
    request_time: int = 1000,
    *,
    duration: int | None = 10,
    state: TraceState = TraceState.OK,
    tags: dict[str, str] | None = None,
    metadata: dict[str, str] | None = None,
    **kwargs: Any,
) -> TraceInfo:
    return TraceInfo(
        trace_id=trace_id,
        trace_location=TraceLocation.from_experiment_id(experiment_id),
        request_time=request_time,
        execution_duration=duration,
        state=state,
        tags=tags or {},
        trace_metadata=metadata or {},
        **kwargs,
    )


def info_plain(trace_info: TraceInfo) -> dict[str, Any]:
    return trace_info.to_dict()


def trace_plain(trace: Trace | None) -> Any:
    if trace is None:
        return None
    return {
        "info": info_plain(trace.info),
        "spans": [s.to_dict() for s in trace.data.spans],
    }


def search_plain(result: tuple[list[TraceInfo], str | None]) -> dict[str, Any]:
    """Page tokens are opaque and differ between stores: compare only whether one came."""
    infos, token = result
    return {"ids": [i.trace_id for i in infos], "more": token is not None}


def infos_plain(infos: list[TraceInfo]) -> list[dict[str, Any]]:
    return [info_plain(i) for i in infos]
