"""Keys of the job family: the records of MLflow's job backend (``AbstractJobStore``).

- ``JOB#<job id>`` / ``META``: one item per job, holding every field of MLflow's ``jobs``
  row. Every state transition is a conditional update of this one item.
- GSI1 ``WS#<ws>#JOBS`` (JOBS_BY_CREATION): a workspace's jobs, by creation time and id.
- GSI2 ``WS#<ws>#JOBS#<STATUS>`` (JOBS_BY_STATUS): a workspace's jobs of one status, by
  creation time and id; every transition moves the item to its new status's key in the
  same update, so the job runner's "unfinished jobs" listing reads only unfinished jobs.
"""

from __future__ import annotations

from mlflow_dynamodbstore.schema import indexes
from mlflow_dynamodbstore.schema.encoding import encode_int
from mlflow_dynamodbstore.schema.keys import SEP, workspace_pk

JOB_SK = "META"


def job_pk(job_id: str) -> str:
    return f"JOB{SEP}{job_id}"


def job_key(job_id: str) -> dict[str, str]:
    return {"PK": job_pk(job_id), "SK": JOB_SK}


def jobs_pk(workspace: str) -> str:
    return f"{workspace_pk(workspace)}{SEP}JOBS"


def jobs_status_pk(workspace: str, status: str) -> str:
    return f"{jobs_pk(workspace)}{SEP}{status}"


def job_order(creation_time: int, job_id: str = "") -> str:
    """Sort key of both listings: creation time, then id (ties in one millisecond)."""
    return f"{encode_int(int(creation_time))}{SEP}{job_id}"


def job_list_keys(workspace: str, creation_time: int, job_id: str) -> dict[str, str]:
    return indexes.JOBS_BY_CREATION.keys(jobs_pk(workspace), job_order(creation_time, job_id))


def job_status_keys(workspace: str, status: str, creation_time: int, job_id: str) -> dict[str, str]:
    return indexes.JOBS_BY_STATUS.keys(
        jobs_status_pk(workspace, status), job_order(creation_time, job_id)
    )
