"""search_experiments candidates from the trigram postings of experiment tag values
(``experiment_tag_value``; repositories/experiment_tag_values.py).

A ``tags.<key>`` clause with ``LIKE`` / ``ILIKE`` / ``=`` and a literal run of 3+
characters narrows the search to the experiments of the workspace whose value of that key
holds every required trigram: the posting lists of (workspace, key), plus the key's
overflow list (values longer than what is indexed). Only when the field is configured and
ready; the caller verifies every candidate with the whole filter, so results equal the
listing path's.
"""

from __future__ import annotations

from collections import defaultdict

from mlflow.utils.search_utils import SearchExperimentsUtils

from mlflow_dynamodbstore.fts.field_postings import EXPERIMENT_TAG_VALUE
from mlflow_dynamodbstore.fts.lookup import TrigramIndex
from mlflow_dynamodbstore.fts.trigrams import required_trigrams
from mlflow_dynamodbstore.schema import fts_keys

_NARROWING = ("LIKE", "ILIKE", "=")


def tag_value_candidates(
    fts: TrigramIndex | None, workspace: str, filter_string: str | None
) -> set[str] | None:
    """Ids of the experiments that may match the filter's tag clauses, or None when no
    clause can use the index (not configured or not ready, no literal of 3+, or too
    common). Clauses on several keys: the first key (in filter order) that narrows."""
    if fts is None or not filter_string:
        return None
    by_key: dict[str, list] = defaultdict(list)
    for clause in SearchExperimentsUtils.parse_search_filter(filter_string):
        if clause["type"] == "tag" and clause["comparator"] in _NARROWING:
            by_key[clause["key"]].append((clause["comparator"], clause["value"]))
    narrowing = [(key, req) for key, on_key in by_key.items() if (req := required_trigrams(on_key))]
    if not narrowing or not fts.usable(EXPERIMENT_TAG_VALUE):
        return None
    for key, required in narrowing:
        scope = fts_keys.keyed_scope(fts_keys.WORKSPACE_SCOPE, key)
        found = fts.bounded_candidates(workspace, EXPERIMENT_TAG_VALUE, scope, required)
        if found is not None:
            return found
    return None
