"""The traces a trace-name filter can match, named by the trigram index (``fts/``).

``name LIKE / ILIKE / = '…'`` (``trace.name``, ``tags.`mlflow.traceName```) with a literal
run of 3+ characters reads, per experiment, the posting lists of the pattern's trigrams
(rarest first, intersected, at most 3) and the experiment's overflow list (traces whose name
had more trigrams than are indexed), then the candidates' META items (BatchGetItem). The
search verifies every candidate with the whole filter and orders and pages them as its
full path does, so results and tokens are the same. None: the index cannot narrow this
search (no usable clause, index not ready, a too-common trigram, too many experiments).
"""

from __future__ import annotations

from typing import Any

from mlflow_dynamodbstore.fts.lookup import TrigramIndex
from mlflow_dynamodbstore.fts.postings import TRACE_NAME
from mlflow_dynamodbstore.fts.trigrams import required_trigrams
from mlflow_dynamodbstore.repositories.traces.repository import TraceRepository
from mlflow_dynamodbstore.search.candidates import named_items
from mlflow_dynamodbstore.search.traces.filter import TraceFilter

Item = dict[str, Any]

# Each experiment costs its own posting-list reads (up to 3 lists x 4 shards + the overflow
# list): past this many experiments the listing walk is the better bet.
MAX_EXPERIMENTS = 25


def indexed_traces(
    traces: TraceRepository,
    fts: TrigramIndex | None,
    workspace: str | None,
    experiment_ids: list[str],
    parsed: TraceFilter,
) -> list[Item] | None:
    """META items of the candidate traces (unordered, unfiltered), or None."""
    if fts is None or workspace is None or len(experiment_ids) > MAX_EXPERIMENTS:
        return None
    required = required_trigrams(parsed.name_clauses)
    if not required or not fts.usable(TRACE_NAME):
        return None
    wanted = set(experiment_ids)
    return named_items(
        experiment_ids,
        lambda e: fts.bounded_candidates(workspace, TRACE_NAME, e, required),
        traces.batch_get,
        lambda item: str(item["experiment_id"]) in wanted,
    )
