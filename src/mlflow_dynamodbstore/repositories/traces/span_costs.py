"""Span cost facts on a trace's META item: for each stored span that has a cost, its start
(ms), model name, model provider and input / output / total cost (``span_costs``: span id ->
[start, model, provider, input, output, total]), so the span cost rollup cells
(cost_rollups.py) are kept from META and a chart's partial hours are computed without
reading span items.

The values are the SQL store's span columns, extracted the same way (SqlAlchemyStore's
``log_spans``): the ``mlflow.llm.cost`` attribute parsed as JSON, each cost
``finite_float_or_none``; the ``mlflow.llm.model`` / ``mlflow.llm.provider`` attributes
through ``_try_parse_json_string`` and ``bounded_model_dimension``. Costs are kept as the
decimal text of the float (``repr``, which reads back as the same float).

Kept by every ``log_spans`` batch, merged by span id (a re-logged span replaces its earlier
self; one re-logged without a cost leaves). A trace without the attribute had spans stored
before cost facts existed: its costs are unknown (the cells count it as "not summed");
start_trace and a trace created by log_spans start with an empty map. A trace whose facts
would not fit in ``MAX_COST_FACTS_BYTES`` keeps none (``span_costs_overflow``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from mlflow.tracing.constant import SpanAttributeKey, SpanMetricKey

from mlflow_dynamodbstore.compat.helpers import _try_parse_json_string
from mlflow_dynamodbstore.compat.trace_analytics import (
    bounded_model_dimension,
    finite_float_or_none,
)
from mlflow_dynamodbstore.repositories.traces.spans import SpanRow

COSTS = "span_costs"
OVERFLOW = "span_costs_overflow"
# Beside span facts (48 KB) under META's 400 KB: ~100 spans with a cost and long model names.
MAX_COST_FACTS_BYTES = 16_000
COST_KEYS = tuple(SpanMetricKey.cost_keys())  # input_cost, output_cost, total_cost


def span_costs(cost_text: str | None) -> dict[str, float | None]:
    """The span's cost columns from its ``mlflow.llm.cost`` attribute (JSON text), as the SQL
    store fills ``spans.input_cost`` / ``output_cost`` / ``total_cost``."""
    costs: Any = {}
    if cost_text:
        try:
            costs = json.loads(cost_text)
        except (TypeError, ValueError):
            costs = {}
    if not isinstance(costs, dict):
        costs = {}
    return {k: finite_float_or_none(costs.get(k)) for k in COST_KEYS}


def span_models(content: str | None) -> tuple[str | None, str | None]:
    """(model name, model provider) of a span's stored content, as the SQL store's columns."""
    attributes = (json.loads(content).get("attributes") or {}) if content else {}
    return (
        bounded_model_dimension(_try_parse_json_string(attributes.get(SpanAttributeKey.MODEL))),
        bounded_model_dimension(
            _try_parse_json_string(attributes.get(SpanAttributeKey.MODEL_PROVIDER))
        ),
    )


def cost_fact(row: SpanRow) -> list[Any] | None:
    """The fact of one span row, None when it has no cost (it is in no cost metric)."""
    costs = span_costs(row.cost)
    if all(v is None for v in costs.values()):
        return None
    model, provider = span_models(row.content)
    return [
        int(row.start_time_ns) // 1_000_000,
        model,
        provider,
        *(None if costs[k] is None else Decimal(repr(costs[k])) for k in COST_KEYS),
    ]


def merge_into(item: dict[str, Any], rows: Iterable[SpanRow], *, created: bool) -> None:
    """Add the cost facts of these spans to a META item (in place)."""
    if item.get(OVERFLOW):
        return
    if not created and COSTS not in item:
        return  # spans stored before cost facts existed: unknown, stays unknown
    facts = dict(item.get(COSTS) or {})
    for row in rows:
        fact = cost_fact(row)
        if fact is None:
            facts.pop(row.span_id, None)
        else:
            facts[row.span_id] = fact
    if len(json.dumps(facts, default=str)) > MAX_COST_FACTS_BYTES:
        item.pop(COSTS, None)
        item[OVERFLOW] = True
        return
    item[COSTS] = facts


def known_facts(meta: dict[str, Any]) -> dict[str, list[Any]] | None:
    """The trace's cost facts, None when unknown (stored before cost facts, or overflow)."""
    if COSTS not in meta or meta.get(OVERFLOW):
        return None
    return meta.get(COSTS) or {}
