"""Search candidates from the trigram postings of workspace-wide tag values: experiment tag
values in search_experiments (``experiment_tag_value``, repositories/experiment_tag_values.py)
registered model tag values in search_registered_models (``model_tag_value``,
repositories/registry/model_tag_values.py) and model version tag values in
search_model_versions (``model_version_tag_value``,
repositories/registry/model_version_tag_values.py).

A ``tags.<key>`` clause with ``LIKE`` / ``ILIKE`` / ``=`` and a literal run of 3+
characters narrows the search to the entities of the workspace whose value of that key
holds every required trigram: the posting lists of (workspace, key), plus the key's
overflow list (values longer than what is indexed). Only when the field is configured and
ready; the caller verifies every candidate with the whole filter, so results equal the
listing path's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from mlflow.utils.search_utils import SearchExperimentsUtils

from mlflow_dynamodbstore.fts.field_postings import (
    EXPERIMENT_TAG_VALUE,
    MODEL_TAG_VALUE,
    MODEL_VERSION_TAG_VALUE,
)
from mlflow_dynamodbstore.fts.lookup import TrigramIndex
from mlflow_dynamodbstore.fts.trigrams import required_trigrams
from mlflow_dynamodbstore.schema import fts_keys
from mlflow_dynamodbstore.schema.model_version_tag_keys import parse_version_entity_id

_NARROWING = ("LIKE", "ILIKE", "=")


def candidates(
    fts: TrigramIndex | None, workspace: str, field: str, clauses: Iterable[dict[str, Any]]
) -> set[str] | None:
    """Ids of the entities that may match the parsed ``clauses``' tag clauses, or None when
    none can use the index (not configured or not ready, no literal of 3+, or too common).
    Clauses on several keys: the first key (in filter order) that narrows."""
    if fts is None:
        return None
    by_key: dict[str, list] = defaultdict(list)
    for clause in clauses:
        comparator = str(clause["comparator"]).upper()
        if clause["type"] == "tag" and comparator in _NARROWING:
            by_key[clause["key"]].append((comparator, clause["value"]))
    narrowing = [(key, req) for key, on_key in by_key.items() if (req := required_trigrams(on_key))]
    if not narrowing or not fts.usable(field):
        return None
    for key, required in narrowing:
        scope = fts_keys.keyed_scope(fts_keys.WORKSPACE_SCOPE, key)
        found = fts.bounded_candidates(workspace, field, scope, required)
        if found is not None:
            return found
    return None


def experiment_candidates(
    fts: TrigramIndex | None, workspace: str, filter_string: str | None
) -> set[str] | None:
    """``candidates`` of a search_experiments filter."""
    if fts is None or not filter_string:
        return None
    parsed = SearchExperimentsUtils.parse_search_filter(filter_string)
    return candidates(fts, workspace, EXPERIMENT_TAG_VALUE, parsed)


def model_candidates(
    fts: TrigramIndex | None, workspace: str, clauses: list[dict[str, Any]]
) -> set[str] | None:
    """``candidates`` of a search_registered_models filter (its parsed clauses)."""
    return candidates(fts, workspace, MODEL_TAG_VALUE, clauses)


def version_candidates(
    fts: TrigramIndex | None, workspace: str, clauses: list[dict[str, Any]]
) -> list[tuple[str, int]] | None:
    """``candidates`` of a search_model_versions filter (its parsed clauses), as sorted
    (model id, version) pairs."""
    found = candidates(fts, workspace, MODEL_VERSION_TAG_VALUE, clauses)
    if found is None:
        return None
    return sorted(p for e in found if (p := parse_version_entity_id(e)) is not None)
