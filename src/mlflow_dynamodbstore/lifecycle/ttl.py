"""The ``ttl`` (epoch seconds; DynamoDB TTL deletes the item after it) written with items,
from the retention policies. ``None`` means the item never expires."""

from __future__ import annotations

import os
from collections.abc import Mapping

from mlflow.exceptions import MlflowException
from mlflow.store.tracking.utils.trace_archival import _parse_trace_archival_duration_millis

from mlflow_dynamodbstore.config import RetentionPolicy

DAY_MS = 86_400_000

# The 0.1.0 package's trace retention, in MLflow's duration grammar ("30d", "12h", "90m"):
# the experiment tag, then (kept for deployments that set it) the server variable.
TRACE_RETENTION_TAG = "mlflow.dynamodb.traceRetention"
LEGACY_TRACE_RETENTION_ENV = "MLFLOW_DYNAMODB_TRACE_RETENTION"


def _after(start_ms: int, retention_ms: int) -> int | None:
    return (int(start_ms) + retention_ms) // 1000 if retention_ms > 0 else None


# A deleted run's or experiment's META outlives its retention by this much: cleanup (run
# daily or weekly) removes the entity with everything it owns once the retention has
# passed, in order and with META still there to lead it; DynamoDB TTL on META is the
# backstop when cleanup does not run. It also leaves cleanup time to take the ttl off a run
# that restoring its experiment brought back (that restore is O(1) and touches no run).
OWNER_GRACE_DAYS = 7


def soft_delete_ttl(policy: RetentionPolicy, deleted_ms: int) -> int | None:
    """``ttl`` of a deleted run's or experiment's META: retention + OWNER_GRACE_DAYS."""
    days = policy.soft_deleted_retention_days
    return _after(deleted_ms, (days + OWNER_GRACE_DAYS) * DAY_MS) if days > 0 else None


def deleted_version_ttl(policy: RetentionPolicy, deleted_ms: int) -> int | None:
    """``ttl`` of a deleted model version: it owns nothing and cannot be restored, so
    DynamoDB TTL alone removes it once the retention has passed."""
    return _after(deleted_ms, policy.soft_deleted_retention_days * DAY_MS)


def soft_delete_cutoff_ms(policy: RetentionPolicy, now_ms: int) -> int | None:
    """Entities deleted at or before this are due; None when the policy is off."""
    days = policy.soft_deleted_retention_days
    return None if days <= 0 else now_ms - days * DAY_MS


def metric_history_ttl(policy: RetentionPolicy, written_ms: int) -> int | None:
    """For history points and blocks (never META or LATEST items: runs keep their final
    metrics and metric ordering)."""
    return _after(written_ms, policy.metric_history_retention_days * DAY_MS)


def _duration_ms(text: str | None) -> int:
    if not text:
        return 0
    try:
        return int(_parse_trace_archival_duration_millis(text) or 0)
    except MlflowException:
        return 0


def trace_retention_ms(
    policy: RetentionPolicy,
    experiment_tags: Mapping[str, str] | None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """The experiment tag wins; then the table's ``trace_retention_days``; then the legacy
    server variable. 0 keeps traces forever."""
    tagged = _duration_ms((experiment_tags or {}).get(TRACE_RETENTION_TAG))
    if tagged:
        return tagged
    if policy.trace_retention_days > 0:
        return policy.trace_retention_days * DAY_MS
    env = os.environ if environ is None else environ
    return _duration_ms(env.get(LEGACY_TRACE_RETENTION_ENV))


def trace_ttl(
    policy: RetentionPolicy, experiment_tags: Mapping[str, str] | None, request_time_ms: int
) -> int | None:
    """The same value on every item of a trace, so the whole partition expires together."""
    return _after(request_time_ms, trace_retention_ms(policy, experiment_tags))
