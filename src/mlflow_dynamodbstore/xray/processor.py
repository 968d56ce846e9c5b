"""An OpenTelemetry span processor that puts MLflow's span facts where X-Ray can index
them.

Wrap the processor that sends spans to the ADOT collector with it::

    provider.add_span_processor(
        XRayAnnotationProcessor(BatchSpanProcessor(OTLPSpanExporter()))
    )

Each ended span reaches the wrapped processor as a copy (built with the SDK's public
``ReadableSpan`` constructor; the original span is untouched, so MLflow's own exporter sees
it as it was) carrying these attributes, named so X-Ray accepts them as annotation keys:

- ``mlflow_span_name``, ``mlflow_span_type``, ``mlflow_span_status`` (OK, ERROR, UNSET),
- ``mlflow_chat_model`` (``gen_ai.request.model``, else ``gen_ai.response.model``) and
  ``mlflow_model_name`` (``mlflow.llm.model``), when the span has them,
- one per entry of ``mapping`` (span attribute -> annotation name, made X-Ray-legal).

The collector indexes them when they are listed in the ``awsxray`` exporter's
``indexed_attributes`` (``indexed_attributes()`` gives the list; docs/xray.md shows the
configuration); the search fallback filters on them and the converter reads them back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mlflow.tracing.constant import SpanAttributeKey
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode

from mlflow_dynamodbstore.xray import annotations as ann

_STATUS = {StatusCode.OK: "OK", StatusCode.ERROR: "ERROR", StatusCode.UNSET: "UNSET"}


def _plain(value: Any) -> Any:
    """MLflow serializes its attributes as JSON text: the annotation gets the value."""
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        return decoded if isinstance(decoded, (str, int, float, bool)) else value
    return value


def _annotation_value(value: Any) -> str | int | float | bool | None:
    value = _plain(value)
    if isinstance(value, (bool, int, float)):
        return value
    if value is None:
        return None
    return str(value)[: ann.MAX_VALUE_LENGTH]


def span_facts(span: ReadableSpan, mapping: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The annotation attributes for one span."""
    attributes = span.attributes or {}
    facts: dict[str, Any] = {
        ann.SPAN_NAME: span.name[: ann.MAX_VALUE_LENGTH],
        ann.SPAN_STATUS: _STATUS.get(span.status.status_code, "UNSET"),
    }
    candidates = {
        ann.SPAN_TYPE: attributes.get(SpanAttributeKey.SPAN_TYPE),
        ann.CHAT_MODEL: attributes.get("gen_ai.request.model")
        or attributes.get("gen_ai.response.model"),
        ann.MODEL_NAME: attributes.get(SpanAttributeKey.MODEL),
    }
    for attribute, annotation in (mapping or {}).items():
        candidates[ann.annotation_key(annotation)] = attributes.get(attribute)
    for key, raw in candidates.items():
        if (value := _annotation_value(raw)) is not None:
            facts[key] = value
    return facts


class XRayAnnotationProcessor(SpanProcessor):
    def __init__(self, next_processor: SpanProcessor, mapping: Mapping[str, str] | None = None):
        self._next = next_processor
        self._mapping = dict(mapping or {})
        for annotation in self._mapping.values():
            ann.annotation_key(annotation)  # refuse a name that cannot be an annotation

    def indexed_attributes(self) -> list[str]:
        """What the collector's ``awsxray`` exporter should list in ``indexed_attributes``."""
        extra = [ann.annotation_key(a) for a in self._mapping.values()]
        return list(dict.fromkeys([*ann.FACT_ANNOTATIONS, *extra]))

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self._next.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        self._next.on_end(annotated(span, self._mapping))

    def shutdown(self) -> None:
        self._next.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._next.force_flush(timeout_millis)


def annotated(span: ReadableSpan, mapping: Mapping[str, str] | None = None) -> ReadableSpan:
    """A copy of the span with its fact attributes added."""
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes={**(span.attributes or {}), **span_facts(span, mapping)},
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
