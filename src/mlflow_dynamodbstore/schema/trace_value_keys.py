"""Keys of trace tag and metadata values in the trigram index (``trace_tag_value``,
``trace_metadata_value``; repositories/traces/value_postings.py, docs/full-text-search.md
"Trace tag and metadata values").

One posting list per (experiment, key, trigram, shard), in the index's layout
(``fts_keys``), the workspace slot ``*``:

    PK  FTS#*#<field>#<experiment id>#<key>#<trigram>#<shard>
    SK  <trace id>

and the (experiment, key) overflow list ``FTS#*#<field>#<experiment id>#<key>#OVERFLOW``.
No workspace in the keys, as the trace-name dictionary (schema/trace_name_keys.py): an
experiment id is unique in the table, searches reach only experiments of the request's
workspace, and a workspace move (``SET_DEFAULT``) has nothing to move.
"""

from __future__ import annotations

from mlflow_dynamodbstore.schema import fts_keys

ANY_WORKSPACE = "*"


def value_scope(experiment_id: str, key: str) -> str:
    """The scope of one key's values in one experiment."""
    return fts_keys.keyed_scope(str(experiment_id), key)


def posting_key(
    field: str, experiment_id: str, key: str, trigram: str, trace_id: str
) -> dict[str, str]:
    return fts_keys.posting_key(
        ANY_WORKSPACE, field, value_scope(experiment_id, key), trigram, trace_id
    )


def overflow_key(field: str, experiment_id: str, key: str, trace_id: str) -> dict[str, str]:
    return fts_keys.overflow_key(ANY_WORKSPACE, field, value_scope(experiment_id, key), trace_id)
