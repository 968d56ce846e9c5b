"""Segment documents shaped like the ADOT collector's ``awsxray`` exporter output, built
from a plain description of the spans a test started from."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from mlflow_dynamodbstore.xray import annotations as ann


@dataclass
class SpanSpec:
    span_id: str
    parent_id: str | None
    name: str
    span_type: str
    start_ns: int
    end_ns: int | None
    inputs: Any = None
    outputs: Any = None
    status: str = "OK"  # MLflow's status code
    error: tuple[str, str] | None = None  # (exception type, message)
    attributes: dict[str, Any] = field(default_factory=dict)


def new_otel_hex(epoch: int | None = None, suffix: str = "0123456789abcdef01234567") -> str:
    """An OTel trace id as the X-Ray id generator makes it: epoch seconds, then 24 hex."""
    return f"{int(epoch if epoch is not None else time.time()):08x}{suffix}"


def _seconds(ns: int) -> Decimal:
    return Decimal(ns) / Decimal(1_000_000_000)


def document(otel_hex: str, spec: SpanSpec, *, standalone: bool) -> dict[str, Any]:
    """One span's document; ``standalone`` subsegments carry type/parent_id/trace_id."""
    metadata = {
        "mlflow.spanType": json.dumps(spec.span_type),
        "mlflow.traceRequestId": json.dumps(f"tr-{otel_hex}"),
        **{k: json.dumps(v) for k, v in spec.attributes.items()},
    }
    if spec.inputs is not None:
        metadata["mlflow.spanInputs"] = json.dumps(spec.inputs)
    if spec.outputs is not None:
        metadata["mlflow.spanOutputs"] = json.dumps(spec.outputs)
    doc: dict[str, Any] = {
        "id": spec.span_id,
        "name": spec.name if spec.parent_id else "my-service",  # segments carry the service
        "start_time": _seconds(spec.start_ns),
        "annotations": {
            ann.SPAN_NAME: spec.name,
            ann.SPAN_TYPE: spec.span_type,
            ann.SPAN_STATUS: spec.status,
        },
        "metadata": {"default": metadata},
    }
    if spec.end_ns is None:
        doc["in_progress"] = True
    else:
        doc["end_time"] = _seconds(spec.end_ns)
    if spec.error:
        doc["fault"] = True
        doc["cause"] = {
            "exceptions": [
                {
                    "id": "0123456789abcdef",
                    "type": spec.error[0],
                    "message": spec.error[1],
                    "stack": [{"path": "agent.py", "line": 12, "label": "call"}],
                }
            ]
        }
    if standalone or spec.parent_id is None:
        doc["trace_id"] = f"1-{otel_hex[:8]}-{otel_hex[8:]}"
    if standalone and spec.parent_id:
        doc["type"] = "subsegment"
        doc["parent_id"] = spec.parent_id
        doc["namespace"] = "local"
    return doc


def separate_documents(otel_hex: str, specs: list[SpanSpec]) -> list[str]:
    """Every span its own document (what the collector sends; what moto returns)."""
    return [_dumps(document(otel_hex, s, standalone=True)) for s in specs]


def nested_documents(otel_hex: str, specs: list[SpanSpec]) -> list[str]:
    """Subsegments merged into their parents (what X-Ray's BatchGetTraces returns)."""
    docs = {s.span_id: document(otel_hex, s, standalone=False) for s in specs}
    roots = []
    for spec in specs:
        if spec.parent_id and spec.parent_id in docs:
            docs[spec.parent_id].setdefault("subsegments", []).append(docs[spec.span_id])
        else:
            roots.append(docs[spec.span_id])
    return [_dumps(r) for r in roots]


def _dumps(doc: dict[str, Any]) -> str:
    # Decimal times are written with all their digits (json.dumps would round via float).
    text = json.dumps(doc, default=_marker)
    return text.replace('"__dec__', "").replace('__dec__"', "")


def _marker(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"__dec__{value:f}__dec__"
    raise TypeError(value)


def llm_trace(base_ns: int) -> list[SpanSpec]:
    """A nested LLM-style trace: agent -> retriever, agent -> chat model (token usage),
    agent -> tool (error)."""
    ms = 1_000_000
    return [
        SpanSpec("a000000000000001", None, "agent", "AGENT", base_ns, base_ns + 900 * ms,
                 inputs={"question": "What is X-Ray?"}, outputs={"answer": "A tracer."}),
        SpanSpec("a000000000000002", "a000000000000001", "retrieve", "RETRIEVER",
                 base_ns + 10 * ms, base_ns + 200 * ms, inputs={"query": "X-Ray"},
                 outputs=[{"page_content": "X-Ray traces requests."}]),
        SpanSpec("a000000000000003", "a000000000000001", "chat", "CHAT_MODEL",
                 base_ns + 210 * ms, base_ns + 800 * ms,
                 inputs={"messages": [{"role": "user", "content": "What is X-Ray?"}]},
                 outputs={"choices": [{"message": {"content": "A tracer."}}]},
                 attributes={"mlflow.chat.tokenUsage": {"input_tokens": 10, "output_tokens": 5,
                                                        "total_tokens": 15}}),
        SpanSpec("a000000000000004", "a000000000000001", "lookup_tool", "TOOL",
                 base_ns + 810 * ms, base_ns + 850 * ms, inputs={"q": 1}, status="ERROR",
                 error=("ValueError", "tool exploded")),
    ]  # fmt: skip
