"""Run one job-store scenario on both stores and compare: every step's result or
MlflowException (code and message), after replacing job ids by their creation rank and
clock readings by whether they are set."""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import Enum
from typing import Any

from mlflow.entities._job import Job
from mlflow.exceptions import MlflowException

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Steps:
    """What a scenario did on one store, step by step."""

    def __init__(self, store: Any):
        self.store = store
        self.ids: list[str] = []  # job ids in creation order
        self.log: list[tuple[str, Any]] = []

    def alias(self, text: str) -> str:
        for rank, job_id in enumerate(self.ids):
            text = text.replace(job_id, f"<job{rank}>")
        return _UUID.sub("<unknown-id>", text)

    def create(self, name: str = "invoke_scorer", params: str = '{"a": 1}', **kw: Any) -> Job:
        job = self.store.create_job(name, params, **kw)
        self.ids.append(job.job_id)
        self.log.append((f"create {name}", self.norm(job)))
        return job

    def do(self, label: str, fn: Callable[[], Any]) -> Any:
        try:
            value = fn()
        except MlflowException as exc:
            self.log.append((label, ("error", exc.error_code, self.alias(exc.message))))
            return None
        self.log.append((label, self.norm(value)))
        return value

    def norm(self, value: Any) -> Any:
        if isinstance(value, Job):
            return {
                "job_id": self.alias(value.job_id),
                "job_name": value.job_name,
                "params": value.params,
                "timeout": value.timeout,
                "status": value.status.name,
                "result": value.result,
                "retry_count": value.retry_count,
                "workspace": value.workspace,
                "status_details": value.status_details,
                "creator": value.creator,
                "error_message": value.error_message,
                "executor_backend": value.executor_backend,
                "lease_expires_at set": value.lease_expires_at is not None,
                "lease after update": (
                    None
                    if value.lease_expires_at is None
                    else value.lease_expires_at > value.last_update_time
                ),
                "status_message": value.status_message,
                "progress": None if value.progress is None else value.progress.to_dict(),
                "progress_updated_at set": value.progress_updated_at is not None,
                "token_hash": value.token_hash,
                "scoped_permissions": value.scoped_permissions,
                "updated after created": value.last_update_time >= value.creation_time,
            }
        if isinstance(value, Enum):
            return value.name
        if isinstance(value, (list, tuple)):
            return [self.norm(v) for v in value]
        if isinstance(value, str):
            return self.alias(value)
        return value

    def sorted_ids(self, job_ids: list[str]) -> list[str]:
        """An unordered list of ids (MLflow returns ``delete_jobs``' in no set order)."""
        return sorted(self.alias(i) for i in job_ids)

    def get(self, rank: int) -> Any:
        return self.do(f"get job{rank}", lambda: self.store.get_job(self.ids[rank]))


def run_both(stores: tuple[Any, Any], scenario: Callable[[Steps], None]) -> None:
    sql, dynamo = (Steps(store) for store in stores)
    scenario(sql)
    scenario(dynamo)
    assert len(sql.log) == len(dynamo.log)
    for (label, expected), (_, actual) in zip(sql.log, dynamo.log, strict=True):
        assert actual == expected, f"step {label!r}: SQL {expected!r} != DynamoDB {actual!r}"
