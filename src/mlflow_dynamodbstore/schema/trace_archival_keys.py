"""Keys of trace archival's own listing and state (docs/trace-archival.md).

- ``TRACES_NOT_ARCHIVED`` (GSI4, sparse): a trace's META is listed under
  ``EXP#<exp>#TRACES#UNARCHIVED`` with the trace listing's sort key while its spans are in
  the table (or its archival's strip is pending); the keys go with the META write that
  archives it. An archival pass walks this listing, so traces it archived are never read
  again.
- the per-experiment state item ``EXP#<exp>`` / ``TRACE_ARCHIVAL_INDEX``: written once the
  experiment's traces stored before the listing existed have been given its keys; until
  then a pass walks the full trace listing (and gives them the keys).
"""

from __future__ import annotations

from mlflow_dynamodbstore.schema import indexes
from mlflow_dynamodbstore.schema.keys import SEP, experiment_pk, trace_list_sk

INDEX_STATE_SK = "TRACE_ARCHIVAL_INDEX"


def unarchived_traces_pk(experiment_id: str) -> str:
    return f"{experiment_pk(experiment_id)}{SEP}TRACES{SEP}UNARCHIVED"


def unarchived_list_keys(experiment_id: str, timestamp_ms: int, trace_id: str) -> dict[str, str]:
    """TRACES_NOT_ARCHIVED (GSI4): the same order as TRACES_BY_TIMESTAMP (newest first)."""
    return indexes.TRACES_NOT_ARCHIVED.keys(
        unarchived_traces_pk(experiment_id), trace_list_sk(timestamp_ms, trace_id)
    )


def index_state_key(experiment_id: str) -> dict[str, str]:
    return {"PK": experiment_pk(experiment_id), "SK": INDEX_STATE_SK}
