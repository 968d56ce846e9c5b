"""The traces a trace-name filter can match, found through the name dictionary
(repositories/traces/name_dictionary.py, docs/full-text-search.md "Trace names").

``name LIKE / ILIKE '…'`` (``trace.name``, ``attributes.name``, ``tags.`mlflow.traceName```)
with a literal run of 3+ characters reads, per experiment, the posting lists of the
pattern's trigrams over the experiment's *distinct names* (rarest first, at most 3) and its
overflow list, then those names' dictionary entries (BatchGetItem), and keeps the names
every name clause accepts (the search's own predicate: LIKE case-sensitive, ILIKE folding
ASCII as SQLite does). ``name = '…'`` needs no postings: its name is the only candidate.
Each (experiment, name) kept is one stream of the name listing (GSI1), newest first; the
streams are merged in MLflow's default order, so a default-order page reads about what it
returns. Other orders read the kept names' traces whole and sort them in memory.

None: the index cannot narrow this search (no usable clause, not ready, a too-common
trigram, too many experiments or names): the search takes its usual path.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mlflow_dynamodbstore.fts.lookup import TrigramIndex
from mlflow_dynamodbstore.fts.postings import TRACE_NAME
from mlflow_dynamodbstore.fts.trigrams import required_trigrams
from mlflow_dynamodbstore.repositories.traces.name_dictionary import NameDictionary
from mlflow_dynamodbstore.repositories.traces.repository import TraceRepository
from mlflow_dynamodbstore.schema import indexes, trace_name_keys
from mlflow_dynamodbstore.search.traces.filter import TraceFilter

Item = dict[str, Any]

# Each experiment costs its own posting-list reads (up to 3 lists x 4 shards + the overflow
# list): past this many experiments the listing walk is the better bet.
MAX_EXPERIMENTS = 25
# Each (experiment, name) kept costs at least one Query of its listing (0.5 read unit):
# past this many, the pattern is not selective and the listing walk is the better bet.
MAX_NAMES = 100


@dataclass(frozen=True)
class NamedTraces:
    """The (experiment, name) listings whose traces may match the filter."""

    traces: TraceRepository
    names: list[tuple[str, str]]

    def stream(
        self, newest: int | None, oldest: int | None, after: str | None, page_size: int | None
    ) -> Iterator[Item]:
        """META items of every kept name, merged in the default order (timestamp DESC, trace
        id ASC), strictly after the GSI listing sort key ``after``. Lazy."""
        streams = [
            self._of(e, n, newest, oldest, after, page_size) for e, n in sorted(set(self.names))
        ]
        return heapq.merge(*streams, key=indexes.TRACES_BY_NAME.sort_key)

    def _of(self, experiment_id, name, newest, oldest, after, page_size) -> Iterator[Item]:
        for item in self.traces.list_by_name(
            experiment_id, name, newest=newest, oldest=oldest, after=after, page_size=page_size
        ):
            # the listing key is the name's digest: the name itself decides
            if item.get("trace_name") == name and str(item["experiment_id"]) == experiment_id:
                yield item


def named_traces(
    traces: TraceRepository,
    fts: TrigramIndex | None,
    experiment_ids: list[str],
    parsed: TraceFilter,
) -> NamedTraces | None:
    if fts is None or not parsed.name_clauses or len(experiment_ids) > MAX_EXPERIMENTS:
        return None
    if not fts.usable(TRACE_NAME):
        return None
    experiments = [str(e) for e in experiment_ids]
    equal = [v for c, v in parsed.name_clauses if c == "=" and isinstance(v, str)]
    if equal:
        name = equal[0]
        kept = [(e, name) for e in experiments] if parsed.name_matches(name) else []
        return NamedTraces(traces, kept)
    required = required_trigrams(parsed.name_clauses)
    if not required:
        return None
    dictionary = NameDictionary(traces.gateway)
    kept = []
    for experiment_id in experiments:
        digests = fts.bounded_candidates(
            trace_name_keys.ANY_WORKSPACE, trace_name_keys.DICTIONARY_FIELD, experiment_id, required
        )
        if digests is None or len(digests) > MAX_NAMES:
            return None
        for entry in dictionary.entries(experiment_id, digests):
            if parsed.name_matches(entry["name"]):
                kept.append((experiment_id, entry["name"]))
        if len(kept) > MAX_NAMES:
            return None
    return NamedTraces(traces, kept)
