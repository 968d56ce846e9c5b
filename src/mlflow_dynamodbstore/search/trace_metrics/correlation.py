"""calculate_trace_filter_correlation: how often traces matching one search_traces filter
also match another (NPMI), with SqlAlchemyStore's counts and errors.

The SQL store counts, over the universe (the experiments' traces, or those matching
``base_filter``), the traces matching ``"<base> and <filter1>"``, ``"<base> and
<filter2>"`` and both. Here the universe is read once and the three filters (MLflow's
search_traces grammar, search/traces/filter.py) are evaluated on each trace in memory:

- only the universe's time range is read: the ``timestamp_ms`` bounds of ``base_filter``
  narrow the key condition, so a windowed correlation never reads traces outside its window;
- when every clause reads only what a trace stats item holds (timestamps, status, name,
  session, token/cost columns; span clauses read the trace's spans either way), the stats
  items (~200 B) are read instead of the META items.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlflow.store.analytics import trace_correlation
from mlflow.tracing.analysis import TraceFilterCorrelationResult

from mlflow_dynamodbstore.repositories.traces.repository import TraceRepository
from mlflow_dynamodbstore.repositories.traces.spans import SpanRepository, SpanRow
from mlflow_dynamodbstore.search.trace_metrics.traces_view import TraceRecords
from mlflow_dynamodbstore.search.traces.filter import TraceFilter, parse_trace_filter

Item = dict[str, Any]


def _combined(base_filter: str | None, filter_string: str) -> str:
    # Exactly the SQL store's string, so a bad combination fails as it does there.
    return f"{base_filter} and {filter_string}" if base_filter else filter_string


class TraceFilterCorrelation:
    def __init__(self, traces: TraceRepository, spans: SpanRepository):
        self.traces = traces
        self.spans = spans

    def calculate(
        self,
        experiment_ids: list[str],
        filter_string1: str,
        filter_string2: str,
        base_filter: str | None,
    ) -> TraceFilterCorrelationResult:
        # Parsed in the SQL store's order, so the first bad filter is the one reported.
        first = parse_trace_filter(_combined(base_filter, filter_string1))
        second = parse_trace_filter(_combined(base_filter, filter_string2))
        base = parse_trace_filter(base_filter)

        total = count1 = count2 = joint = 0
        for item in self._universe(experiment_ids, base, (first, second)):
            spans = _LazySpans(self.spans, item["trace_id"])
            if not _matches(base, item, spans):
                continue
            total += 1
            in_first = _matches(first, item, spans)
            in_second = _matches(second, item, spans)
            count1 += in_first
            count2 += in_second
            joint += in_first and in_second

        npmi = trace_correlation.calculate_npmi_from_counts(joint, count1, count2, total)
        return TraceFilterCorrelationResult(
            npmi=npmi.npmi,
            npmi_smoothed=npmi.npmi_smoothed,
            filter1_count=count1,
            filter2_count=count2,
            joint_count=joint,
            total_count=total,
        )

    def _universe(
        self, experiment_ids: list[str], base: TraceFilter, others: tuple[TraceFilter, ...]
    ) -> Iterator[Item]:
        """The traces of the base filter's time range: stats items when every filter can be
        answered from them (and the bounds are not before 1970, which stats listings do not
        hold), META items otherwise."""
        bounds_servable = all(b is None or b >= 0 for b in (base.oldest, base.newest))
        if bounds_servable and all(f.stats_servable for f in (base, *others)):
            yield from TraceRecords(self.traces).stats_items(
                experiment_ids, base.oldest, base.newest
            )
            return
        for experiment_id in experiment_ids:
            yield from self.traces.list_experiment(
                experiment_id, newest=base.newest, oldest=base.oldest
            )


class _LazySpans:
    """A trace's spans, read at most once and only if a span clause asks."""

    def __init__(self, spans: SpanRepository, trace_id: str):
        self._repository = spans
        self._trace_id = trace_id
        self._rows: list[SpanRow] | None = None

    def rows(self) -> list[SpanRow]:
        if self._rows is None:
            self._rows = self._repository.read(self._trace_id)
        return self._rows


def _matches(parsed: TraceFilter, item: Item, spans: _LazySpans) -> bool:
    if not parsed.matches_trace(item):
        return False
    return not parsed.span_predicates or parsed.matches_spans(spans.rows())
