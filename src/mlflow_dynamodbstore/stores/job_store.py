"""MLflow's job store (``AbstractJobStore``) on the table: the records of the GenAI job
backend (scorer runs from the UI, online scoring, evaluation, prompt optimization, issue
detection). Semantics are those of ``SqlAlchemyJobStore`` /
``WorkspaceAwareSqlAlchemyJobStore``: the same transitions, results and error codes, each
transition one conditional write (repositories/jobs.py). MLflow has no entry point for job
stores; ``mlflow_dynamodbstore.jobs`` makes MLflow use this one (docs/jobs.md)."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from typing import Any, NoReturn

from mlflow.entities._job import Job, JobProgress
from mlflow.entities._job_status import JobStatus
from mlflow.environment_variables import (
    MLFLOW_SERVER_JOB_TRANSIENT_ERROR_MAX_RETRIES,
    MLFLOW_SERVER_JOB_TRANSIENT_ERROR_RETRY_BASE_DELAY,
    MLFLOW_SERVER_JOB_TRANSIENT_ERROR_RETRY_MAX_DELAY,
)
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST
from mlflow.store.jobs.abstract_store import (
    AbstractJobStore,
    JobTerminalStateUpdateException,
    JobUpdateStatus,
)
from mlflow.store.workspace_aware_mixin import WorkspaceAwareMixin

from mlflow_dynamodbstore.repositories.jobs import (
    TRANSIENT_FIELDS,
    JobMissing,
    JobRepository,
    WrongState,
    claimable_at,
    decode_fields,
    now_millis,
    pack_text,
    retries_at_least,
    retries_below,
)
from mlflow_dynamodbstore.stores.connection import connect
from mlflow_dynamodbstore.stores.errors import translate_gateway_errors

_logger = logging.getLogger(__name__)

PENDING = JobStatus.PENDING.name
RUNNING = JobStatus.RUNNING.name
NEEDS_RECOVERY = JobStatus.NEEDS_RECOVERY.name
ACTIVE = (PENDING, RUNNING, NEEDS_RECOVERY)
FINALIZED = [
    s.name for s in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.TIMEOUT, JobStatus.CANCELED)
]


def _not_found(job_id: str) -> MlflowException:
    return MlflowException(f"Job with ID {job_id} not found", error_code=RESOURCE_DOES_NOT_EXIST)


def _lease_expiration(lease_duration: float | None) -> int | None:
    if lease_duration is None:
        return None
    if not math.isfinite(lease_duration) or lease_duration <= 0:
        raise MlflowException.invalid_parameter_value(
            "`lease_duration` must be a finite positive number."
        )
    return now_millis() + int(lease_duration * 1000)


def _retry_backoff_seconds(retry_count: int) -> int:
    base = MLFLOW_SERVER_JOB_TRANSIENT_ERROR_RETRY_BASE_DELAY.get()
    max_delay = MLFLOW_SERVER_JOB_TRANSIENT_ERROR_RETRY_MAX_DELAY.get()
    return min(base * (2 ** (retry_count - 1)), max_delay)


def _to_job(item: dict[str, Any]) -> Job:
    fields = decode_fields(item)
    fields["status"] = JobStatus.from_str(fields["status"])
    return Job(**fields)


def _terminal(status: JobStatus, payload: str | None) -> dict[str, Any]:
    fields: dict[str, Any] = {"result": pack_text(payload)} if payload is not None else {}
    removes = list(TRANSIENT_FIELDS) + ([] if payload is not None else ["result"])
    return {"new_status": status.name, "set_fields": fields, "remove_fields": removes}


def _pending() -> dict[str, Any]:
    return {
        "new_status": PENDING,
        "remove_fields": ["result", *TRANSIENT_FIELDS],
    }


@translate_gateway_errors
class DynamoDBJobStore(WorkspaceAwareMixin, AbstractJobStore):
    """Job records of the request's workspace (the default one when workspaces are off),
    as ``WorkspaceAwareSqlAlchemyJobStore`` scopes them."""

    def __init__(self, store_uri: str):
        super().__init__()
        self.store_uri = store_uri
        self._conn = connect(store_uri, serve_while_unavailable=True)
        self.gateway = self._conn.workspace_scoped(self._get_active_workspace)
        self.jobs = JobRepository(self.gateway)

    # ---- helpers -----------------------------------------------------------------------
    def _apply(self, job_id: str, from_statuses: tuple[str, ...], **change: Any) -> JobUpdateStatus:
        try:
            self.jobs.transition(job_id, from_statuses, **change)
        except JobMissing:
            raise _not_found(job_id) from None
        except WrongState:
            return JobUpdateStatus.WRONG_STATE
        return JobUpdateStatus.APPLIED

    def _transition_or_raise(
        self, job_id: str, action: str, from_statuses: tuple[str, ...], **change: Any
    ) -> dict[str, Any]:
        try:
            return self.jobs.transition(job_id, from_statuses, **change)
        except JobMissing:
            raise _not_found(job_id) from None
        except WrongState as exc:
            self._raise_invalid_transition(job_id, action, from_statuses, exc.item)

    @staticmethod
    def _raise_invalid_transition(
        job_id: str, action: str, expected: tuple[str, ...], item: dict[str, Any]
    ) -> NoReturn:
        current = JobStatus.from_str(item["status"])
        if JobStatus.is_finalized(current):
            raise MlflowException.invalid_parameter_value(
                f"The Job {job_id} is already finalized with status: {current}, "
                "it can't be updated."
            )
        raise MlflowException.invalid_parameter_value(
            f"Job {job_id} is in {current} state, cannot {action} (must be {', '.join(expected)})"
        )

    def _get_item(self, job_id: str) -> dict[str, Any]:
        try:
            return self.jobs.get(job_id)
        except JobMissing:
            raise _not_found(job_id) from None

    # ---- AbstractJobStore ---------------------------------------------------------------
    def create_job(
        self,
        job_name: str,
        params: str,
        timeout: float | None = None,
        creator: str | None = None,
        executor_backend: str | None = None,
    ) -> Job:
        item = self.jobs.create(
            job_name=job_name,
            params=params,
            timeout=timeout,
            creator=creator,
            executor_backend=executor_backend,
            status=PENDING,
        )
        return _to_job(item)

    def _claim_change(self, lease_duration: float | None) -> dict[str, Any]:
        lease = _lease_expiration(lease_duration)
        now = now_millis()
        change: dict[str, Any] = {
            "new_status": RUNNING,
            "set_fields": {"last_update_time": now},
            "extra_condition": claimable_at(now),
        }
        if lease is None:
            change["remove_fields"] = ["lease_expires_at"]
        else:
            change["set_fields"]["lease_expires_at"] = lease
        return change

    def claim_job(self, job_id: str, lease_duration: float | None = None) -> JobUpdateStatus:
        return self._apply(job_id, (PENDING,), **self._claim_change(lease_duration))

    def start_job(self, job_id: str) -> None:
        if self.claim_job(job_id) != JobUpdateStatus.APPLIED:
            self._raise_invalid_transition(job_id, "start", (PENDING,), self._get_item(job_id))

    def renew_job_lease(self, job_id: str, lease_duration: float) -> JobUpdateStatus:
        if lease_duration is None:
            raise MlflowException.invalid_parameter_value(
                "`lease_duration` must be provided when renewing a job lease."
            )
        lease = _lease_expiration(lease_duration)
        return self._apply(job_id, (RUNNING,), set_fields={"lease_expires_at": lease})

    def retry_job(self, job_id: str) -> int:
        item = self._transition_or_raise(job_id, "retry", (RUNNING,), add_retry=True, **_pending())
        return int(item["retry_count"])

    def mark_job_needs_recovery(self, job_id: str) -> JobUpdateStatus:
        return self._apply(
            job_id, (RUNNING,), new_status=NEEDS_RECOVERY, remove_fields=["lease_expires_at"]
        )

    def reattach_job(self, job_id: str, lease_duration: float | None = None) -> JobUpdateStatus:
        lease = _lease_expiration(lease_duration)
        change: dict[str, Any] = {"new_status": RUNNING}
        if lease is None:
            change["remove_fields"] = ["lease_expires_at"]
        else:
            change["set_fields"] = {"lease_expires_at": lease}
        return self._apply(job_id, (NEEDS_RECOVERY,), **change)

    def requeue_job(self, job_id: str) -> JobUpdateStatus:
        return self._apply(job_id, (NEEDS_RECOVERY,), **_pending())

    def report_job_result(
        self,
        job_id: str,
        status: JobStatus,
        result: str | None = None,
        error_message: str | None = None,
        is_transient_error: bool = False,
    ) -> None:
        del is_transient_error  # part of MLflow's contract; not persisted (as the SQL store)
        if not JobStatus.is_finalized(status):
            raise MlflowException.invalid_parameter_value(
                "`report_job_result()` requires a terminal JobStatus."
            )
        if status == JobStatus.SUCCEEDED:
            if error_message is not None:
                raise MlflowException.invalid_parameter_value(
                    "Succeeded job results must leave `error_message` unset."
                )
            payload = result
        elif status == JobStatus.FAILED:
            if error_message is None or result is not None:
                raise MlflowException.invalid_parameter_value(
                    "Failed job results must set `error_message` and leave `result` unset."
                )
            payload = error_message
        elif status == JobStatus.TIMEOUT:
            if result is not None:
                raise MlflowException.invalid_parameter_value(
                    "Timed-out job results must leave `result` unset; `error_message` is optional."
                )
            payload = error_message
        else:  # CANCELED
            if result is not None or error_message is not None:
                _logger.warning(
                    "Ignoring payload for canceled job result update for job_id=%s.", job_id
                )
            payload = None
        self._transition_or_raise(
            job_id, "report result", (RUNNING, NEEDS_RECOVERY), **_terminal(status, payload)
        )

    def reset_job(self, job_id: str) -> None:
        self._transition_or_raise(job_id, "reset", ACTIVE, **_pending())

    def finish_job(self, job_id: str, result: str) -> None:
        self._transition_or_raise(
            job_id, "finish", ACTIVE, **_terminal(JobStatus.SUCCEEDED, result)
        )

    def fail_job(self, job_id: str, error: str) -> None:
        self._transition_or_raise(job_id, "fail", ACTIVE, **_terminal(JobStatus.FAILED, error))

    def mark_job_timed_out(self, job_id: str) -> None:
        self._transition_or_raise(job_id, "time out", ACTIVE, **_terminal(JobStatus.TIMEOUT, None))

    def retry_or_fail_job(self, job_id: str, error: str) -> int | None:
        max_retries = MLFLOW_SERVER_JOB_TRANSIENT_ERROR_MAX_RETRIES.get()
        current = self._get_item(job_id)
        # The worker owns this RUNNING job, so no other writer changes retry_count between
        # this read and the conditional update (which checks it again).
        new_retry_count = int(current.get("retry_count", 0)) + 1
        backoff_ms = _retry_backoff_seconds(new_retry_count) * 1000
        retry = _pending()
        retry["remove_fields"] = [f for f in retry["remove_fields"] if f != "next_attempt_at"]
        retry["set_fields"] = {
            "retry_count": new_retry_count,
            "next_attempt_at": now_millis() + backoff_ms,
        }
        try:
            self.jobs.transition(
                job_id,
                (RUNNING,),
                extra_condition=retries_below(max_retries),
                **retry,
            )
            return new_retry_count
        except JobMissing:
            raise _not_found(job_id) from None
        except WrongState:
            pass
        try:
            self.jobs.transition(
                job_id,
                (RUNNING,),
                extra_condition=retries_at_least(max_retries),
                **_terminal(JobStatus.FAILED, error),
            )
            return None
        except JobMissing:
            raise _not_found(job_id) from None
        except WrongState as exc:
            self._raise_invalid_transition(job_id, "fail", (RUNNING,), exc.item)

    def list_jobs(
        self,
        job_name: str | None = None,
        statuses: list[JobStatus] | None = None,
        begin_timestamp: int | None = None,
        end_timestamp: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> Iterator[Job]:
        items = self.jobs.list(
            job_name=job_name,
            statuses=[s.name for s in statuses] if statuses else None,
            begin_timestamp=begin_timestamp,
            end_timestamp=end_timestamp,
        )
        for item in items:
            job = _to_job(item)
            if params and not _params_match(json.loads(job.params), params):
                continue
            yield job

    def get_job(self, job_id: str) -> Job:
        return _to_job(self._get_item(job_id))

    def cancel_job(self, job_id: str) -> Job:
        item = self._transition_or_raise(
            job_id, "cancel", ACTIVE, **_terminal(JobStatus.CANCELED, None)
        )
        return _to_job(item)

    def update_status_details(self, job_id: str, status_details: dict[str, Any]) -> None:
        current = self._get_item(job_id)
        details = dict(decode_fields(current)["status_details"] or {})
        details.update(status_details)
        try:
            self.jobs.transition(job_id, ACTIVE, set_fields={"status_details": json.dumps(details)})
        except JobMissing:
            raise _not_found(job_id) from None
        except WrongState as exc:
            raise JobTerminalStateUpdateException(
                job_id, JobStatus.from_str(exc.item["status"])
            ) from None

    def update_job_progress(
        self,
        job_id: str,
        message: str | None = None,
        progress: JobProgress | None = None,
    ) -> None:
        if message is None and progress is None:
            return
        now = now_millis()
        fields: dict[str, Any] = {"progress_updated_at": now, "last_update_time": now}
        if message is not None:
            fields["status_message"] = message
        if progress is not None:
            fields["progress"] = json.dumps(progress.to_dict())
        try:
            self.jobs.transition(job_id, ACTIVE, set_fields=fields)
        except JobMissing:
            raise _not_found(job_id) from None
        except WrongState as exc:
            raise JobTerminalStateUpdateException(
                job_id, JobStatus.from_str(exc.item["status"])
            ) from None

    def delete_jobs(self, older_than: int = 0, job_ids: list[str] | None = None) -> list[str]:
        created_before = now_millis() - older_than if older_than > 0 else None
        return self.jobs.delete_finalized(job_ids, FINALIZED, created_before)


def _params_match(job_params: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return all(key in job_params and job_params[key] == value for key, value in wanted.items())
