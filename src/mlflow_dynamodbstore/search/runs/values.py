"""search_runs candidates from the trigram postings of tag and param values
(``run_tag_value``, ``run_param_value``; fts/field_postings.py).

A ``tags.<key>`` / ``params.<key>`` clause with ``LIKE`` / ``ILIKE`` / ``=`` and a literal
run of 3+ characters narrows the search to the runs whose value of that key holds every
required trigram, in each searched experiment: the posting lists of (experiment, key), plus
the key's overflow list (values longer than what is indexed). Only when the field is
configured and its postings are complete (ready); the caller verifies every candidate
with the whole filter, so results equal the full path's.
"""

from __future__ import annotations

from collections import defaultdict

from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME

from mlflow_dynamodbstore.fts.field_postings import RUN_PARAM_VALUE, RUN_TAG_VALUE
from mlflow_dynamodbstore.fts.lookup import TrigramIndex
from mlflow_dynamodbstore.fts.postings import RUN_NAME
from mlflow_dynamodbstore.fts.trigrams import required_trigrams
from mlflow_dynamodbstore.schema import fts_keys
from mlflow_dynamodbstore.search.runs.filter import PARAM, TAG, RunFilter

_FIELD_OF = {TAG: RUN_TAG_VALUE, PARAM: RUN_PARAM_VALUE}


def value_candidates(
    fts: TrigramIndex | None, experiments: dict[str, dict], run_filter: RunFilter
) -> list[str] | None:
    """Candidate run ids (sorted per experiment), or None when no clause can use the
    index (not configured, not ready, no literal of 3+, or too common everywhere)."""
    if fts is None:
        return None
    clauses: dict[tuple[str, str], list] = defaultdict(list)
    for c in run_filter.clauses:
        if c.kind == TAG and c.key == MLFLOW_RUN_NAME:
            clauses[(RUN_NAME, c.key)].append((c.comparator, c.value))  # the name postings
        elif c.kind in _FIELD_OF:
            clauses[(_FIELD_OF[c.kind], c.key)].append((c.comparator, c.value))
    for (field, key), on_key in clauses.items():
        required = required_trigrams(on_key)
        if not required or not fts.usable(field):
            continue
        found = _read(fts, experiments, field, key, required)
        if found is not None:
            return found
    return None


def _read(
    fts: TrigramIndex, experiments: dict[str, dict], field: str, key: str, required: set[str]
) -> list[str] | None:
    run_ids: list[str] = []
    for exp, item in experiments.items():
        workspace = str(item.get("workspace", ""))
        if field == RUN_NAME:
            found = fts.candidates(workspace, field, exp, required)
        else:
            scope = fts_keys.keyed_scope(exp, key)
            found = fts.bounded_candidates(workspace, field, scope, required)
        if found is None:
            return None
        run_ids.extend(sorted(found))
    return run_ids
