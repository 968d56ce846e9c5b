"""search_traces: plan the reads, filter, order and page like SqlAlchemyStore.

Every page token is a keyset position (search/traces/order.py): the sort values of the last
trace returned, bound to the experiments, filter and order that issued it. The plans:

- **Listing order** (no order_by, or ``timestamp_ms DESC`` then ``request_id ASC``: MLflow's
  default). Each experiment's traces are read from GSI3 forwards, already in that order, the
  experiments merged lazily on the sort key; reading stops once a page is full and the next
  page starts right after the position. Without a filter a page costs one Query per
  experiment (``Limit`` = max_results). A ``timestamp_ms`` comparison narrows the key
  condition.
- **Indexed orders** (``timestamp_ms`` or ``execution_time_ms`` first, either direction;
  search/traces/walks.py; the trace name first: search/traces/name_walk.py): an index read
  in that order from the position's group on, ties of the first value sorted in memory. A
  page costs what it returns plus the index entries the filter rejects and the ties at its
  two ends (the name order: plus the experiment's name dictionary).
- **Any other order** (status, request id, experiment id, end time, tags, metadata,
  session): every trace of the experiments (within the timestamp bounds) is read, filtered
  and sorted in memory, and the page taken after the position: O(traces in the experiments)
  per page (docs/access-patterns.md).

A trace-name ``LIKE / ILIKE / =`` the name dictionary can narrow reads only the traces of the
matching names (search/traces/by_name.py): in the default order straight from their name
listings, merged; in the name order walked name by name; in any other order sorted in
memory. Else a tag or metadata value ``LIKE / ILIKE / =`` the opt-in value postings can
narrow reads only their candidates (search/traces/by_value.py), verified, sorted and paged
in memory.

Filters are evaluated in memory on the META items (search/traces/filter.py); ``span.*``
clauses on name, type and status are answered from META's span facts when it has them
(repositories/traces/span_facts.py); otherwise the spans of the traces that passed every
other clause are read. A trace with no stored span is handed to the ``missing_spans``
hook when one is given (the X-Ray search fallback, docs/xray.md).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Any, Protocol

from mlflow_dynamodbstore.fts.lookup import TrigramIndex
from mlflow_dynamodbstore.repositories.traces import span_facts
from mlflow_dynamodbstore.repositories.traces.repository import TraceRepository
from mlflow_dynamodbstore.repositories.traces.spans import SpanRepository
from mlflow_dynamodbstore.schema import indexes, keys
from mlflow_dynamodbstore.search.registry import keyset
from mlflow_dynamodbstore.search.traces.by_name import NamedTraces, named_traces
from mlflow_dynamodbstore.search.traces.by_value import valued_traces
from mlflow_dynamodbstore.search.traces.filter import TraceFilter, parse_trace_filter
from mlflow_dynamodbstore.search.traces.name_walk import name_walk
from mlflow_dynamodbstore.search.traces.order import (
    TIE_BREAKERS,
    PageTokens,
    TraceOrder,
    parse_order_by,
)
from mlflow_dynamodbstore.search.traces.walks import Walk, execution_time_walk, timestamp_walk

Item = dict[str, Any]
# ``TraceSearch.search(requested=...)`` unset: tokens are bound to the experiment ids given.
AS_GIVEN: Any = object()


class MissingSpans(Protocol):
    """Decides span clauses for a trace whose spans are not in the table."""

    def matches(self, item: Item, parsed: TraceFilter) -> bool: ...


class TraceSearch:
    def __init__(
        self,
        traces: TraceRepository,
        spans: SpanRepository,
        missing_spans: MissingSpans | None = None,
        fts: TrigramIndex | None = None,
        workspace: str | None = None,
    ):
        self.traces = traces
        self.spans = spans
        self.missing_spans = missing_spans
        self.fts = fts
        self.workspace = workspace

    def _matches(self, item: Item, parsed: TraceFilter) -> bool:
        if not parsed.matches_trace(item):
            return False
        if not parsed.span_predicates:
            return True
        if not parsed.span_needs_content and (facts := span_facts.rows_from_facts(item)):
            return parsed.matches_spans(facts)
        rows = self.spans.read(item["trace_id"])
        if not rows and self.missing_spans is not None:
            return self.missing_spans.matches(item, parsed)
        return parsed.matches_spans(rows)

    def search(
        self,
        experiment_ids: list[str],
        filter_string: str | None,
        max_results: int,
        order_by: list[str] | None,
        page_token: str | None,
        *,
        requested: list[str] | None = AS_GIVEN,
    ) -> tuple[list[Item], str | None]:
        """A page of META items and the next page's token. ``requested``: the experiment ids
        the caller asked for (None: every experiment of the workspace), which tokens are
        bound to; by default ``experiment_ids``."""
        order = parse_order_by(order_by)
        parsed = parse_trace_filter(filter_string)
        scope = experiment_ids if requested is AS_GIVEN else requested
        tokens = PageTokens(order, scope, filter_string)
        after = tokens.decode(page_token)
        if not experiment_ids:
            return [], None
        found = self._page(experiment_ids, parsed, max_results, order, after)
        # As the SQL store: a token whenever the page is full.
        token = tokens.encode(found[-1]) if found and len(found) == max_results else None
        return found, token

    def _page(
        self,
        experiment_ids: list[str],
        parsed: TraceFilter,
        max_results: int,
        order: TraceOrder,
        after: list | None,
    ) -> list[Item]:
        cursor = None if after is None else order.key_of(after)
        named = named_traces(self.traces, self.fts, experiment_ids, parsed)
        if named is not None:
            return self._named_page(named, parsed, max_results, order, after)
        valued = valued_traces(self.traces, self.fts, experiment_ids, parsed)
        if valued is not None:
            return self._first_matching(
                keyset.after_cursor(valued, order.key, cursor), parsed, max_results
            )
        if order.starts_with(*TIE_BREAKERS):
            return self._listing_page(experiment_ids, parsed, max_results, after)
        # One entry past the page tells that its last group (of ties) has ended; a walk from
        # a position reads that position's entry again (the start of its group).
        page_size = max_results + 1 + (after is not None) if parsed.empty else None
        walk = (
            timestamp_walk(self.traces, experiment_ids, order, parsed, after, page_size)
            or execution_time_walk(self.traces.gateway, experiment_ids, order, after, page_size)
            or name_walk(self.traces, self.fts, experiment_ids, order, parsed, after, page_size)
        )
        if walk is None:
            return self._sorted_page(experiment_ids, parsed, max_results, order, cursor)
        return self._walk_rows(walk, parsed, max_results, order, cursor)

    def _walk_rows(
        self,
        walk: Walk,
        parsed: TraceFilter,
        max_results: int,
        order: TraceOrder,
        cursor: tuple | None,
    ) -> list[Item]:
        def rows_of(group: list[Item]) -> list[Item]:
            return [
                i
                for i in group
                if (cursor is None or order.key(i) > cursor) and self._matches(i, parsed)
            ]

        return walk.rows(rows_of, order.key, max_results)

    def _named_page(
        self,
        named: NamedTraces,
        parsed: TraceFilter,
        max_results: int,
        order: TraceOrder,
        after: list | None,
    ) -> list[Item]:
        """The traces of the names kept: the default order from their listings, exactly
        after the position; another order read whole and sorted."""
        if order.starts_with(*TIE_BREAKERS):
            after_sk = None if after is None else keys.trace_list_sk(after[0], after[1])
            page = max_results if parsed.only_names else None
            merged = named.stream(parsed.newest, parsed.oldest, after_sk, page)
            return self._first_matching(merged, parsed, max_results)
        cursor = None if after is None else order.key_of(after)
        # The name order: the kept names' listings walked in name order, from the position.
        page_size = max_results + 2 if parsed.only_names else None
        experiments = sorted({e for e, _ in named.names})
        walk = name_walk(
            self.traces, self.fts, experiments, order, parsed, after, page_size, kept=named.names
        )
        if walk is not None:
            return self._walk_rows(walk, parsed, max_results, order, cursor)
        every = list(named.stream(parsed.newest, parsed.oldest, None, None))
        return self._first_matching(
            keyset.after_cursor(every, order.key, cursor), parsed, max_results
        )

    def _listing_page(
        self, experiment_ids: list[str], parsed: TraceFilter, max_results: int, after: list | None
    ) -> list[Item]:
        """MLflow's default order, straight from GSI3 (its sort key is that order)."""
        after_sk = None if after is None else keys.trace_list_sk(after[0], after[1])
        page = max_results if parsed.empty else None
        streams = [
            self.traces.list_experiment(
                e, newest=parsed.newest, oldest=parsed.oldest, after=after_sk, page_size=page
            )
            for e in experiment_ids
        ]
        merged = heapq.merge(*streams, key=indexes.TRACES_BY_TIMESTAMP.sort_key)
        return self._first_matching(merged, parsed, max_results)

    def _first_matching(
        self, items: Iterable[Item], parsed: TraceFilter, max_results: int
    ) -> list[Item]:
        found: list[Item] = []
        for item in items:
            if self._matches(item, parsed):
                found.append(item)
                if len(found) == max_results:
                    break
        return found

    def _sorted_page(
        self,
        experiment_ids: list[str],
        parsed: TraceFilter,
        max_results: int,
        order: TraceOrder,
        cursor: tuple | None,
    ) -> list[Item]:
        """Every trace of the experiments read, the trace-level clauses checked, sorted; span
        clauses are checked on the sorted ones after the position until the page is full."""
        streams = [
            self.traces.list_experiment(e, newest=parsed.newest, oldest=parsed.oldest)
            for e in experiment_ids
        ]
        candidates = [i for s in streams for i in s if parsed.matches_trace(i)]
        return self._first_matching(
            keyset.after_cursor(candidates, order.key, cursor), parsed, max_results
        )
