"""search_traces ordered by trace name first (``name``, ``tags.mlflow.traceName``), paged
by keyset from the name listings instead of every trace of the experiments.

The SQL store orders by ``trace_name`` (NULLs last in either direction), then by the rest of
the order (by default its tie-breakers ``timestamp_ms DESC, request_id ASC``). Per
experiment the walk reads

1. the experiment's distinct names from its name dictionary (repositories/traces/
   name_dictionary.py; 1 Query per shard), sorted in the order's direction, from the
   position's name on;
2. each name's listing (TRACES_BY_NAME, GSI1), newest first: the tie-breakers' order, so
   when the order continues with them a page resumes exactly after the position;
3. then the traces without a name (TRACES_WITHOUT_NAME, GSI1), in the same order.

Experiments are merged on (name, listing key). When the order continues with other terms,
each name is one group sorted in memory (search/registry/keyset.py ``grouped_walk``), as
the ties of the timestamp and execution-time walks are.

Used only where both listings are complete: the trace-name index is ready (its dictionary
and name listings hold every named trace) and every unnamed trace carries its listing keys
(listings.NAMELESS_READINESS); otherwise None, and the order is answered by reading every
trace (exact, O(traces)).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlflow.tracing.constant import TraceTagKey

from mlflow_dynamodbstore.fts.lookup import TrigramIndex
from mlflow_dynamodbstore.fts.postings import TRACE_NAME
from mlflow_dynamodbstore.repositories.traces import listings
from mlflow_dynamodbstore.repositories.traces.name_dictionary import NameDictionary
from mlflow_dynamodbstore.repositories.traces.repository import TraceRepository
from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.search.traces.filter import TraceFilter
from mlflow_dynamodbstore.search.traces.order import TIE_BREAKERS, Term, TraceOrder, _NullsLast
from mlflow_dynamodbstore.search.traces.walks import Walk

Item = dict[str, Any]
_TAG = "tag"
_TIE_TERMS = tuple(Term("attribute", key, ascending) for key, ascending in TIE_BREAKERS)


def orders_by_name(order: TraceOrder) -> bool:
    return order.first.key_type == _TAG and order.first.key == TraceTagKey.TRACE_NAME


def _listing_sk(item: Item) -> str:
    return keys.trace_list_sk(int(item["timestamp_ms"]), item["trace_id"])


def name_walk(
    traces: TraceRepository,
    fts: TrigramIndex | None,
    experiment_ids: list[str],
    order: TraceOrder,
    parsed: TraceFilter,
    after: list | None,
    page_size: int | None,
    kept: list[tuple[str, str]] | None = None,
) -> Walk | None:
    """``kept``: the (experiment, name) pairs a name filter narrowed the search to
    (search/traces/by_name.py): only their listings are read, no dictionary and no
    unnamed traces (a name clause never matches NULL)."""
    if not orders_by_name(order) or fts is None or not fts.usable(TRACE_NAME):
        return None
    if kept is None and not listings.NAMELESS_READINESS.is_ready(traces.gateway):
        return None
    ascending = order.first.ascending
    # The listings' order is the tie-breakers': then every trace is its own group.
    in_key_order = order.terms[1:] == _TIE_TERMS
    start = NameWalkStart.of(after, in_key_order)
    names = _Names(NameDictionary(traces.gateway), kept)
    streams = [
        _experiment_stream(
            traces, names, str(e), ascending, start, parsed.newest, parsed.oldest, page_size
        )
        for e in experiment_ids
    ]

    def merge_key(item: Item) -> tuple:
        return (_NullsLast(item.get("trace_name"), ascending), _listing_sk(item))

    def group(item: Item) -> Any:
        if in_key_order:
            return (item.get("trace_name"), _listing_sk(item))
        return item.get("trace_name")

    return Walk(streams, merge_key, group)


class NameWalkStart:
    """Where a page starts: the position's name (None: among the unnamed traces) and, when
    the listings' order is the search's, its listing key (resume strictly after it)."""

    __slots__ = ("after_sk", "name", "named")

    def __init__(self, named: bool, name: str | None, after_sk: str | None):
        self.named = named  # the position is a named trace (or there is no position)
        self.name = name
        self.after_sk = after_sk

    @classmethod
    def of(cls, after: list | None, in_key_order: bool) -> NameWalkStart:
        if after is None:
            return cls(True, None, None)
        after_sk = keys.trace_list_sk(after[1], after[2]) if in_key_order else None
        return cls(after[0] is not None, after[0], after_sk)


class _Names:
    """An experiment's distinct names: its dictionary, or the names a filter kept."""

    def __init__(self, dictionary: NameDictionary, kept: list[tuple[str, str]] | None):
        self.dictionary = dictionary
        self.kept = kept

    @property
    def with_unnamed(self) -> bool:
        return self.kept is None

    def of(self, experiment_id: str) -> set[str]:
        if self.kept is not None:
            return {n for e, n in self.kept if e == experiment_id}
        return {e["name"] for e in self.dictionary.all_entries(experiment_id)}


def _experiment_stream(
    traces: TraceRepository,
    names: _Names,
    experiment_id: str,
    ascending: bool,
    start: NameWalkStart,
    newest: int | None,
    oldest: int | None,
    page_size: int | None,
) -> Iterator[Item]:
    """One experiment's traces in (name, listing key) order from the start on. Lazy."""
    if start.named:
        for name in _names_from(names.of(experiment_id), ascending, start.name):
            resume = start.after_sk if name == start.name else None
            listing = traces.list_by_name(
                experiment_id, name, newest=newest, oldest=oldest, after=resume,
                page_size=page_size,
            )  # fmt: skip
            for item in listing:
                # the listing key is the name's digest: the name itself decides
                if item.get("trace_name") == name and str(item["experiment_id"]) == experiment_id:
                    yield item
    if not names.with_unnamed:
        return
    resume = None if start.named else start.after_sk
    for item in traces.list_without_name(
        experiment_id, newest=newest, oldest=oldest, after=resume, page_size=page_size
    ):
        if item.get("trace_name") is None:
            yield item


def _names_from(distinct: set[str], ascending: bool, first: str | None) -> list[str]:
    """The names in the order's direction, from ``first`` on (inclusive; None: all of
    them). Python compares strings by code point, as SQLite's BINARY collation compares
    UTF-8."""
    names = sorted(distinct, reverse=not ascending)
    if first is None:
        return names
    return [n for n in names if (n >= first if ascending else n <= first)]
