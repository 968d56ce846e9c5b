"""query_trace_metrics calls the span cost cells answer (the Overview page's cost charts:
``total_cost`` SUM by model name or provider, with and without time buckets; also input /
output cost and AVG): over ranges with edges, aligned ranges, a range inside one hour, hour /
day / 30-day buckets, two experiments; after deletions, retried and re-logged spans, spans
arriving in later batches; with spans starting hours after their trace, labels a key cannot
hold as they are, and a trace whose costs cannot be summed. Registered in
COST_ROLLUP_SCENARIOS, run by test_cost_rollups_differential.py.

Scenarios whose name ends in ``_dyadic`` use costs that are sums of powers of two: every
float addition is exact, so SQLite's one-by-one float sum and the cells' exact decimal sum
are the same float, and those are compared bit for bit. The others use decimal costs
(0.00123 x n ...), where SQLite rounds at each addition: compared to 12 significant digits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlflow.entities import SpanType, TraceState
from mlflow.entities.trace_metrics import AggregationType, MetricAggregation
from mlflow.tracing.constant import SpanAttributeKey

from mlflow_dynamodbstore.compat import mlflow_at_least
from tests.differential_traces.builders import BASE_MS, info, span, tid
from tests.differential_traces.registry import TraceScenario
from tests.differential_traces.scenarios_metrics import DAY, HOUR, SPANS, ask

COST_ROLLUP_SCENARIOS: list[TraceScenario] = []

SUM = [MetricAggregation(AggregationType.SUM)]
SUM_AVG = [MetricAggregation(AggregationType.SUM), MetricAggregation(AggregationType.AVG)]
MODELS = [
    ("gpt-4o", "openai"),
    ("claude", "anthropic"),
    ("gpt-4o-mini", "openai"),
    ("local-llm", None),
    (None, "openai"),
]
Costs = Callable[[int, int], dict[str, float]]


def cost_scenario(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    COST_ROLLUP_SCENARIOS.append(TraceScenario(fn.__name__, fn))
    return fn


def decimal_costs(n: int, k: int) -> dict[str, float]:
    cost_in, cost_out = 0.00123 * n + 0.0007 * k, 0.000457 * (n + 1)
    return {"input_cost": cost_in, "output_cost": cost_out, "total_cost": cost_in + cost_out}


def dyadic_costs(n: int, k: int) -> dict[str, float]:
    cost_in, cost_out = n / 8 + k / 4, (n % 5) / 16
    return {"input_cost": cost_in, "output_cost": cost_out, "total_cost": cost_in + cost_out}


def llm(n: int, span_id: int, start: int, model: tuple, cost: Any, duration: int = 40):
    attributes: dict[str, Any] = {"mlflow.spanType": SpanType.LLM}
    if cost is not None:
        attributes[SpanAttributeKey.LLM_COST] = cost
    if model[0] is not None:
        attributes[SpanAttributeKey.MODEL] = model[0]
    if model[1] is not None:
        attributes[SpanAttributeKey.MODEL_PROVIDER] = model[1]
    return span(n, span_id, 1, f"llm-{span_id}", start, start + duration, attributes)


def trace_spans(n: int, start: int, costs: Costs) -> list:
    """Trace ``n``: a root and an LLM call; every third a second call to another model (total
    cost only), every fourth a call starting in the next hour, every tenth one starting
    three hours later; every seventh an LLM span without cost (in no cost metric)."""
    spans = [
        span(n, 1, None, "agent", start, start + 4 * HOUR),
        llm(n, 2, start + 10, MODELS[n % 5], costs(n, 0)),
    ]
    if n % 3 == 0:
        spans.append(
            llm(n, 3, start + 20, MODELS[(n + 1) % 5], {"total_cost": costs(n, 1)["total_cost"]})
        )
    if n % 4 == 0:
        later = start - start % HOUR + HOUR + 5 + n
        spans.append(llm(n, 4, later, MODELS[(n + 2) % 5], costs(n, 2)))
    if n % 10 == 0:
        spans.append(llm(n, 5, start + 3 * HOUR + 61_000, MODELS[1], costs(n, 3)))
    if n % 7 == 0:
        spans.append(llm(n, 6, start + 30, MODELS[0], None))
    return spans


def start_of(n: int) -> int:
    return n * 127 * 60 * 1000 + n * 991  # ~2.1 h apart, off the hour


def corpus(store, costs: Costs) -> tuple[str, str]:
    e1, e2 = store.create_experiment("costs"), store.create_experiment("costs-2")
    for n in range(1, 31):
        store.log_spans(e1, trace_spans(n, start_of(n), costs))
    for n in range(40, 44):
        store.log_spans(e2, trace_spans(n, n * 2 * HOUR + 5, costs))
    return e1, e2


UNALIGNED = {"start_time_ms": BASE_MS + 5 * HOUR + 1234, "end_time_ms": BASE_MS + 2 * DAY + 789}
ALIGNED = {"start_time_ms": BASE_MS - BASE_MS % DAY, "end_time_ms": BASE_MS + 4 * DAY - 1}
HOUR_ALIGNED = {
    "start_time_ms": BASE_MS - BASE_MS % HOUR + 3 * HOUR,
    "end_time_ms": BASE_MS - BASE_MS % HOUR + 40 * HOUR - 1,
}
NARROW = {"start_time_ms": BASE_MS + 7 * HOUR + 1, "end_time_ms": BASE_MS + 7 * HOUR + 600_000}
RANGES = {"unaligned": UNALIGNED, "aligned": ALIGNED, "hours": HOUR_ALIGNED, "narrow": NARROW}


def overview(store, experiments: list[str], range_: dict[str, int]) -> dict[str, Any]:
    """The Overview page's cost calls over one range (and the other cost metrics)."""
    out: dict[str, Any] = {}
    for dim in ("span_model_name", "span_model_provider"):
        out[f"total_by_{dim}"] = ask(
            store, experiments, SPANS, "total_cost", SUM, dimensions=[dim], **range_
        )
        for label, interval in (("hourly", 3600), ("daily", 86400), ("monthly", 2592000)):
            out[f"total_by_{dim}_{label}"] = ask(
                store, experiments, SPANS, "total_cost", SUM, dimensions=[dim],
                time_interval_seconds=interval, **range_,
            )  # fmt: skip
    for metric in ("input_cost", "output_cost", "total_cost"):
        out[f"{metric}_sum_avg"] = ask(store, experiments, SPANS, metric, SUM_AVG, **range_)
        out[f"{metric}_by_both"] = ask(
            store, experiments, SPANS, metric, SUM_AVG,
            dimensions=["span_model_name", "span_model_provider"], **range_,
        )  # fmt: skip
    # Before 3.17 the SQL store let groups whose model name or cost is NULL take LIMIT slots
    # and dropped them after (fewer points than max_results); 3.17 filters them first, as
    # this store does (sql_trace_metrics_utils.query_metrics): compared from 3.17 on.
    if mlflow_at_least("3.17"):
        out["limited"] = ask(
            store, experiments, SPANS, "total_cost", SUM, dimensions=["span_model_name"],
            time_interval_seconds=3600, max_results=4, **range_,
        )  # fmt: skip
    return out


def all_ranges(store, experiments: list[str]) -> dict[str, Any]:
    return {name: overview(store, experiments, r) for name, r in RANGES.items()}


@cost_scenario
def cost_rollups_overview(store):
    e1, e2 = corpus(store, decimal_costs)
    return {**all_ranges(store, [e1]), "two": overview(store, [e1, e2], UNALIGNED)}


@cost_scenario
def cost_rollups_overview_dyadic(store):
    e1, e2 = corpus(store, dyadic_costs)
    return {**all_ranges(store, [e1]), "two": overview(store, [e1, e2], UNALIGNED)}


@cost_scenario
def cost_rollups_after_deletes_dyadic(store):
    e1, _ = corpus(store, dyadic_costs)
    store.delete_traces(e1, trace_ids=[tid(n) for n in (3, 8, 12, 13, 20)])
    after_ids = overview(store, [e1], UNALIGNED)
    store.delete_traces(e1, max_timestamp_millis=BASE_MS + 30 * HOUR)
    after_time = overview(store, [e1], ALIGNED)
    store.delete_traces(e1, trace_ids=[tid(3), tid(30)])
    return {"ids": after_ids, "time": after_time, "again": overview(store, [e1], ALIGNED)}


@cost_scenario
def cost_rollups_after_retries_and_changes_dyadic(store):
    """Retried log_spans, an LLM span re-logged with another cost and model, one re-logged
    without its cost, a costed span arriving in a later batch (in a later hour), a retried
    start_trace whose spans come later."""
    e1, _ = corpus(store, dyadic_costs)
    for n in (2, 5, 9):
        store.log_spans(e1, trace_spans(n, start_of(n), dyadic_costs))  # retried
    store.log_spans(e1, [llm(6, 2, start_of(6) + 10, MODELS[1], dyadic_costs(60, 1))])
    store.log_spans(e1, [llm(7, 2, start_of(7) + 10, MODELS[2], None)])  # cost gone
    later = start_of(11) + 2 * HOUR + 7
    store.log_spans(e1, [llm(11, 8, later, MODELS[0], dyadic_costs(11, 5))])
    started = info(tid(60), e1, BASE_MS + 20 * HOUR + 17, duration=None,
                   state=TraceState.IN_PROGRESS)  # fmt: skip
    store.start_trace(started)
    store.start_trace(started)  # retried
    store.log_spans(e1, trace_spans(60, 20 * HOUR + 17, dyadic_costs))
    store.log_spans(e1, trace_spans(60, 20 * HOUR + 17, dyadic_costs))  # retried
    return all_ranges(store, [e1])


@cost_scenario
def cost_rollups_with_unsummed_and_odd_labels(store):
    """A cost off the cells' grid (its trace is not summed: the charts over it take the
    exact path); model names a key cannot hold as they are (a "#", over 256 bytes)."""
    e1, _ = corpus(store, decimal_costs)
    odd = {"input_cost": 1e-30, "output_cost": 0.5, "total_cost": 0.5}
    store.log_spans(e1, [llm(28, 9, start_of(28) + 50, MODELS[0], odd)])  # after 2 days
    store.log_spans(e1, [llm(9, 9, start_of(9) + 50, ("gpt#4", "open#ai"), decimal_costs(9, 7))])
    store.log_spans(e1, [llm(21, 9, start_of(21) + 50, ("m" * 300, "p"), decimal_costs(21, 7))])
    return all_ranges(store, [e1])


@cost_scenario
def cost_rollups_empty_and_bad_dyadic(store):
    e1, _ = corpus(store, dyadic_costs)
    empty = store.create_experiment("empty")
    return {
        "empty": overview(store, [empty], UNALIGNED),
        "unknown": overview(store, ["123456"], UNALIGNED),
        "reversed": ask(store, [e1], SPANS, "total_cost", SUM, start_time_ms=BASE_MS + DAY,
                        end_time_ms=BASE_MS),
        "open": ask(store, [e1], SPANS, "total_cost", SUM, dimensions=["span_model_name"]),
        "bad_aggregation": ask(store, [e1], SPANS, "total_cost",
                               [MetricAggregation(AggregationType.COUNT)], **UNALIGNED),
        "bad_dimension": ask(store, [e1], SPANS, "total_cost", SUM, dimensions=["span_name"],
                             **UNALIGNED),
    }  # fmt: skip
