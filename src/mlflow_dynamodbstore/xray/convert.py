"""X-Ray segment documents -> MLflow spans.

X-Ray returns a trace as segment documents; each may nest ``subsegments`` at any depth, and
subsegments sent on their own (``"type": "subsegment"`` with ``parent_id``, as the ADOT
collector sends non-server spans) are either merged into their parent by X-Ray or, in moto,
returned as separate documents: both layouts give the same spans. A span id seen twice keeps
its most complete document (finished over in-progress).

Mapping (see docs/xray.md): name, ids and parent links as sent; start/end times exact to
the nanosecond digits the document carries; ``error``/``fault`` make the status ERROR (the
processor's ``mlflow_span_status`` annotation otherwise says OK/UNSET), ``cause.exceptions``
become ``exception`` span events; ``metadata.default`` entries are the span's attributes
(MLflow's own attributes keep their JSON text), other metadata namespaces become
``<namespace>.<key>`` attributes, annotations become attributes of their own name, and the
span name/type/status annotations of the processor win over the exporter's renaming.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from mlflow.entities import Span
from mlflow.tracing.constant import SpanAttributeKey
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags

from mlflow_dynamodbstore.xray import annotations as ann
from mlflow_dynamodbstore.xray.ids import is_span_id, otel_hex_from_mlflow

Document = dict[str, Any]
_NS = Decimal(1_000_000_000)
# Sections of a segment kept as ``xray.<section>`` attributes (JSON).
_SECTIONS = ("http", "aws", "sql", "service", "user", "origin", "namespace")
# MLflow attributes as the collector renames them when they are indexed as annotations.
_MLFLOW_BY_ANNOTATION = {
    ann.annotation_key(v): v
    for k, v in vars(SpanAttributeKey).items()
    if not k.startswith("_") and isinstance(v, str)
}


def parse_document(text: str) -> Document:
    """A segment document, numbers kept exact (start/end times carry nanosecond digits)."""
    return json.loads(text, parse_float=Decimal)


def _ns(seconds: Any) -> int | None:
    if seconds is None:
        return None
    return int((Decimal(str(seconds)) * _NS).to_integral_value())


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _json_text(value: Any) -> str:
    """An attribute value as MLflow stores attributes: JSON text. Strings that already are
    JSON (MLflow's own serialized attributes) are kept as they are."""
    if isinstance(value, str):
        try:
            json.loads(value)
            return value
        except ValueError:
            return json.dumps(value)
    return json.dumps(_plain(value))


def collect(documents: Iterable[Document]) -> dict[str, tuple[Document, str | None]]:
    """span id -> (document, parent span id) over every document and nested subsegment."""
    found: dict[str, tuple[Document, str | None]] = {}

    def visit(doc: Document, enclosing: str | None) -> None:
        span_id = doc.get("id")
        if not is_span_id(span_id):
            return  # not a segment X-Ray could have accepted
        parent = enclosing or doc.get("parent_id")
        seen = found.get(span_id)
        if seen is None or (_finished(doc) and not _finished(seen[0])):
            found[span_id] = (doc, parent)
        for sub in doc.get("subsegments") or ():
            visit(sub, span_id)

    for doc in documents:
        visit(doc, None)
    return found


def _finished(doc: Document) -> bool:
    return doc.get("end_time") is not None and not doc.get("in_progress")


def _stack_text(stack: list[dict]) -> str:
    return "\n".join(
        f'  File "{f.get("path", "?")}", line {f.get("line", "?")}, in {f.get("label", "?")}'
        for f in stack or ()
    )


def _exception_events(doc: Document, at_ns: int) -> list[Event]:
    cause = doc.get("cause")
    if not isinstance(cause, dict):
        return []
    events = []
    for exc in cause.get("exceptions") or ():
        attributes = {
            "exception.type": str(exc.get("type") or ""),
            "exception.message": str(exc.get("message") or ""),
        }
        if exc.get("stack"):
            attributes["exception.stacktrace"] = _stack_text(exc["stack"])
        events.append(Event("exception", attributes, at_ns))
    return events


def _attributes(doc: Document, trace_id: str) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for namespace, entries in (doc.get("metadata") or {}).items():
        if not isinstance(entries, dict):
            continue
        for key, value in entries.items():
            name = key if namespace == "default" else f"{namespace}.{key}"
            attributes[name] = _json_text(value)
    for key, value in (doc.get("annotations") or {}).items():
        original = _MLFLOW_BY_ANNOTATION.get(key)
        if original is not None and original not in attributes:
            attributes[original] = _json_text(value)
        attributes.setdefault(key, json.dumps(_plain(value)))
    annotations = doc.get("annotations") or {}
    if SpanAttributeKey.SPAN_TYPE not in attributes and ann.SPAN_TYPE in annotations:
        attributes[SpanAttributeKey.SPAN_TYPE] = json.dumps(str(annotations[ann.SPAN_TYPE]))
    for section in _SECTIONS:
        if doc.get(section) is not None:
            attributes[f"xray.{section}"] = json.dumps(_plain(doc[section]))
    for flag in ("error", "fault", "throttle"):
        if doc.get(flag):
            attributes[f"xray.{flag}"] = "true"
    attributes[SpanAttributeKey.REQUEST_ID] = json.dumps(trace_id)
    return attributes


def _status(doc: Document) -> Status:
    annotations = doc.get("annotations") or {}
    if doc.get("error") or doc.get("fault"):
        cause = doc.get("cause")
        message = ""
        if isinstance(cause, dict) and cause.get("exceptions"):
            first = cause["exceptions"][0]
            message = f"{first.get('type') or 'Error'}: {first.get('message') or ''}".strip()
        return Status(StatusCode.ERROR, message or None)
    stated = str(annotations.get(ann.SPAN_STATUS, "")).upper()
    if stated == "UNSET" or (not stated and not _finished(doc)):
        return Status(StatusCode.UNSET)
    if stated == "ERROR":
        return Status(StatusCode.ERROR)
    return Status(StatusCode.OK)


def _context(otel_trace_id: int, span_id: str) -> SpanContext:
    return SpanContext(
        trace_id=otel_trace_id,
        span_id=int(span_id, 16),
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )


def spans_from_documents(trace_id: str, documents: Iterable[Document]) -> list[Span]:
    """The MLflow spans of one trace (``trace_id`` is the MLflow id), parents first."""
    otel_trace_id = int(otel_hex_from_mlflow(trace_id), 16)
    found = collect(documents)
    spans = []
    for span_id, (doc, parent) in found.items():
        if parent not in found:
            parent = None  # a caller outside this trace: the span is a root here
        start = _ns(doc.get("start_time")) or 0
        end = None if doc.get("in_progress") else _ns(doc.get("end_time"))
        annotations = doc.get("annotations") or {}
        name = str(annotations.get(ann.SPAN_NAME) or doc.get("name") or "")
        otel = ReadableSpan(
            name=name,
            context=_context(otel_trace_id, span_id),
            parent=_context(otel_trace_id, parent) if parent else None,
            attributes=_attributes(doc, trace_id),
            events=_exception_events(doc, end or start),
            status=_status(doc),
            start_time=start,
            end_time=end,
        )
        spans.append(Span(otel))
    spans.sort(key=lambda s: (s.parent_id is not None, s.start_time_ns, s.span_id))
    return spans
