"""The traces a tag or metadata value filter can match, named by the opt-in value postings
(``trace_tag_value``, ``trace_metadata_value``; repositories/traces/value_postings.py,
docs/full-text-search.md "Trace tag and metadata values").

``tags.<key>`` / ``metadata.<key>`` (``request_metadata.<key>``) with ``LIKE`` / ``ILIKE``
/ ``=`` and a literal run of 3+ characters reads, per experiment (at most 25), the posting
lists of the key's values (rarest trigrams first, at most 3, 4 shards each) and the key's
overflow list, then the candidate traces' META items (BatchGetItem). Clauses on several
keys: the first (in filter order) that narrows in every experiment. The search verifies
every candidate with the whole filter and orders and pages them in memory with its keyset
tokens, so results, order and tokens are the listing path's.

None: the index cannot narrow this search (no usable clause, field not configured or not
ready, an ``mlflow.*`` key, a too-common trigram, too many experiments or candidates): the
search takes its usual path.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from mlflow_dynamodbstore.fts.field_postings import TRACE_METADATA_VALUE, TRACE_TAG_VALUE
from mlflow_dynamodbstore.fts.lookup import TrigramIndex
from mlflow_dynamodbstore.fts.trigrams import required_trigrams
from mlflow_dynamodbstore.repositories.traces.repository import TraceRepository
from mlflow_dynamodbstore.repositories.traces.value_postings import indexed_key
from mlflow_dynamodbstore.schema import trace_value_keys
from mlflow_dynamodbstore.search.traces.filter import TraceFilter

Item = dict[str, Any]

# Each experiment costs its own posting-list reads (up to 3 lists x 4 shards + the overflow
# list): past this many experiments the listing walk is the better bet.
MAX_EXPERIMENTS = 25
# Each candidate costs a strongly consistent read of its META (>= 1 read unit): past this
# many the pattern is not selective and the listing walk is the better bet.
MAX_CANDIDATES = 1000
_NARROWING = ("LIKE", "ILIKE", "=")
_FIELDS = {"tags": TRACE_TAG_VALUE, "metadata": TRACE_METADATA_VALUE}


def valued_traces(
    traces: TraceRepository,
    fts: TrigramIndex | None,
    experiment_ids: list[str],
    parsed: TraceFilter,
) -> list[Item] | None:
    """META items of the candidate traces (unordered, unverified), or None."""
    if fts is None or not parsed.value_clauses or len(experiment_ids) > MAX_EXPERIMENTS:
        return None
    by_key: dict[tuple[str, str], list[tuple[str, Any]]] = defaultdict(list)
    for kind, key, comparator, value in parsed.value_clauses:
        if comparator in _NARROWING and indexed_key(key):
            by_key[(_FIELDS[kind], key)].append((comparator, value))
    experiments = [str(e) for e in experiment_ids]
    for (field, key), clauses in by_key.items():
        required = required_trigrams(clauses)
        if not required or not fts.usable(field):
            continue
        found = _candidates(fts, field, key, experiments, required)
        if found is not None:
            wanted = set(experiments)
            metas = traces.batch_get(found).values()
            return [item for item in metas if str(item["experiment_id"]) in wanted]
    return None


def _candidates(
    fts: TrigramIndex, field: str, key: str, experiments: list[str], required: set[str]
) -> set[str] | None:
    ids: set[str] = set()
    for experiment_id in experiments:
        found = fts.bounded_candidates(
            trace_value_keys.ANY_WORKSPACE,
            field,
            trace_value_keys.value_scope(experiment_id, key),
            required,
        )
        if found is None:
            return None
        ids |= found
        if len(ids) > MAX_CANDIDATES:
            return None
    return ids
