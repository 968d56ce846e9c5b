"""Span facts on a trace's META item: for each stored span its name, type, status, start
(ms) and latency (ms) (``span_facts``: span id -> [name, type, status, start, latency]), so
``span.name``/``span.type``/``span.status`` filters are answered from META without reading
span items, and the SPANS view's rollup cells are kept from META (view_rollups.py; facts
written before they carried start and latency have three elements).

Kept by every write of spans (``log_spans``, the X-Ray cache), merged by span id so a
re-logged span replaces its earlier facts. A trace whose facts would not fit in
``MAX_FACTS_BYTES`` keeps none (``span_facts_overflow``) and is filtered by reading its
spans, as before facts existed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from mlflow_dynamodbstore.repositories.traces.spans import SpanRow

FACTS = "span_facts"
OVERFLOW = "span_facts_overflow"
# Far below META's 400 KB so assessments and tags keep their room.
MAX_FACTS_BYTES = 48_000


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _latency_ms(row: SpanRow) -> int | None:
    # As the SQL view: (end - start) // 1e6, NULL while the span has no end.
    return None if row.end_time_ns is None else (row.end_time_ns - row.start_time_ns) // 1_000_000


def facts_of(rows: Iterable[SpanRow]) -> dict[str, list[Any]]:
    return {
        r.span_id: [
            r.name,
            _text(r.span_type),
            _text(r.status),
            int(r.start_time_ns) // 1_000_000,
            _latency_ms(r),
        ]
        for r in rows
    }


def merge_into(item: dict[str, Any], rows: Iterable[SpanRow], *, created: bool) -> None:
    """Add the facts of these spans to a META item (in place). A trace without the
    attribute had spans stored before facts existed: its facts stay absent (unknown);
    start_trace writes an empty map so that its later spans are counted."""
    if item.get(OVERFLOW):
        return
    if not created and FACTS not in item:
        return
    facts = {**(item.get(FACTS) or {}), **facts_of(rows)}
    # Stored numbers come back as Decimal: sized as their text.
    if len(json.dumps(facts, default=str)) > MAX_FACTS_BYTES:
        item.pop(FACTS, None)
        item[OVERFLOW] = True
        return
    item[FACTS] = facts


def rows_from_facts(item: dict[str, Any]) -> list[SpanRow] | None:
    """Content-less span rows from META's facts, or None when META has no usable facts
    (none recorded, too many spans, or no span stored yet: the spans must be looked for)."""
    facts = item.get(FACTS)
    if not facts or item.get(OVERFLOW):
        return None
    return [
        SpanRow(
            trace_id=item["trace_id"],
            span_id=span_id,
            parent_span_id=None,
            name=fact[0],
            span_type=fact[1],
            status=fact[2],
            start_time_ns=0,
            end_time_ns=None,
            content="",
        )
        for span_id, fact in facts.items()
    ]
