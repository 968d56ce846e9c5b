"""Key builders of labeling (label schemas, review queues and their items) and issues.

Label schemas, review queues and issues are looked up by a global id (``ls-...``, ``rq-...``,
``iss-...``), so each has a partition of its own keyed by that id and is listed per experiment
through GSI1. A queue's items share the queue's partition (the one partition that grows with
what a user attaches, bounded by one queue) and are listed in MLflow's order through GSI2 (all)
and GSI3 (one status). Names unique per experiment are guard items in the experiment's
partition, written in the same transaction as the item they name.
"""

from __future__ import annotations

from mlflow_dynamodbstore.schema import indexes
from mlflow_dynamodbstore.schema.encoding import encode_int
from mlflow_dynamodbstore.schema.keys import META, SEP, experiment_pk, workspace_pk

# ---- label schemas -------------------------------------------------------------------


def label_schema_key(schema_id: str) -> dict[str, str]:
    return {"PK": f"LS{SEP}{schema_id}", "SK": META}


def label_schema_name_key(experiment_id: str, name: str) -> dict[str, str]:
    """Uniqueness guard: one item per (experiment, schema name); holds the schema id."""
    return {"PK": experiment_pk(experiment_id), "SK": f"LSNAME{SEP}{name}"}


def label_schemas_gsi1pk(experiment_id: str) -> str:
    return f"{experiment_pk(experiment_id)}{SEP}LSS"


def newest_first_sk(created_ms: int, object_id: str) -> str:
    """Read forwards: creation time DESC, then id ASC (the SQL store's list orders). The
    time prefix is fixed-width, so the id after it compares as the SQL column does."""
    return f"{encode_int(-int(created_ms))}{SEP}{object_id}"


def label_schema_list_keys(experiment_id: str, created_ms: int, schema_id: str) -> dict:
    """LABEL_SCHEMAS_BY_CREATION (GSI1)."""
    return indexes.LABEL_SCHEMAS_BY_CREATION.keys(
        label_schemas_gsi1pk(experiment_id), newest_first_sk(created_ms, schema_id)
    )


# ---- review queues -------------------------------------------------------------------
QUEUE_ITEM_PREFIX = f"ITEM{SEP}"


def review_queue_pk(queue_id: str) -> str:
    return f"RQ{SEP}{queue_id}"


def review_queue_key(queue_id: str) -> dict[str, str]:
    return {"PK": review_queue_pk(queue_id), "SK": META}


def review_queue_name_key(experiment_id: str, name_key: str) -> dict[str, str]:
    """Uniqueness guard: one item per (experiment, case-folded queue name)."""
    return {"PK": experiment_pk(experiment_id), "SK": f"RQNAME{SEP}{name_key}"}


def review_queues_gsi1pk(experiment_id: str) -> str:
    return f"{experiment_pk(experiment_id)}{SEP}RQS"


def review_queue_list_keys(experiment_id: str, created_ms: int, queue_id: str) -> dict:
    """REVIEW_QUEUES_BY_CREATION (GSI1)."""
    return indexes.REVIEW_QUEUES_BY_CREATION.keys(
        review_queues_gsi1pk(experiment_id), newest_first_sk(created_ms, queue_id)
    )


def review_queue_item_key(queue_id: str, item_id: str) -> dict[str, str]:
    return {"PK": review_queue_pk(queue_id), "SK": f"{QUEUE_ITEM_PREFIX}{item_id}"}


def queue_items_gsi2pk(queue_id: str) -> str:
    return f"{review_queue_pk(queue_id)}{SEP}ITEMS"


def queue_items_gsi3pk(queue_id: str, status: str) -> str:
    return f"{queue_items_gsi2pk(queue_id)}{SEP}{status}"


def review_queue_item_list_keys(queue_id: str, created_ms: int, item_id: str) -> dict:
    """REVIEW_QUEUE_ITEMS_BY_CREATION (GSI2): every item of a queue."""
    return indexes.REVIEW_QUEUE_ITEMS_BY_CREATION.keys(
        queue_items_gsi2pk(queue_id), newest_first_sk(created_ms, item_id)
    )


def review_queue_item_status_keys(
    queue_id: str, status: str, created_ms: int, item_id: str
) -> dict:
    """REVIEW_QUEUE_ITEMS_BY_STATUS (GSI3): the items of one status; a status change
    rewrites the partition key value."""
    return indexes.REVIEW_QUEUE_ITEMS_BY_STATUS.keys(
        queue_items_gsi3pk(queue_id, status), newest_first_sk(created_ms, item_id)
    )


def review_item_refs_key(workspace: str, item_id: str) -> dict[str, str]:
    """The queues of one workspace that hold an item (a set of queue ids): what trace
    deletion and ``list_review_queues(item_id=...)`` read instead of every queue."""
    return {"PK": f"RQREF{SEP}{item_id}", "SK": workspace_pk(workspace)}


# ---- issues --------------------------------------------------------------------------
def issue_key(issue_id: str) -> dict[str, str]:
    return {"PK": f"ISS{SEP}{issue_id}", "SK": META}


ISSUE_TRACE_PREFIX = f"T{SEP}"


def issue_trace_ref_key(issue_id: str, trace_id: str) -> dict[str, str]:
    """A hint in the issue's partition: this trace had an ``issue`` assessment naming the
    issue (readers verify it on the trace, so a stale hint is harmless)."""
    return {"PK": issue_key(issue_id)["PK"], "SK": f"{ISSUE_TRACE_PREFIX}{trace_id}"}


def issues_gsi1pk(experiment_id: str) -> str:
    return f"{experiment_pk(experiment_id)}{SEP}ISS"


def issues_gsi2pk(workspace: str) -> str:
    return f"{workspace_pk(workspace)}{SEP}ISS"


def issue_order_sk(severity_rank: int, created_ms: int, issue_id: str) -> str:
    """Read backwards: severity rank DESC (none lowest), creation time DESC, id DESC, the
    SQL store's search order. ``severity_rank`` is -1 for no severity."""
    return f"{int(severity_rank) + 1:02d}{SEP}{encode_int(int(created_ms))}{SEP}{issue_id}"


def issue_list_keys(
    experiment_id: str, workspace: str, severity_rank: int, created_ms: int, issue_id: str
) -> dict[str, str]:
    """ISSUES_BY_EXPERIMENT (GSI1) and ISSUES_BY_WORKSPACE (GSI2), one sort key."""
    sk = issue_order_sk(severity_rank, created_ms, issue_id)
    return {
        **indexes.ISSUES_BY_EXPERIMENT.keys(issues_gsi1pk(experiment_id), sk),
        **indexes.ISSUES_BY_WORKSPACE.keys(issues_gsi2pk(workspace), sk),
    }
