"""Assessments (feedback, expectations, issue references) of a trace.

They live in the trace's META item (``assessments`` map, id -> the SQL store's columns as
MLflow's ``SqlAssessments`` computes them), so a trace info with its assessments is one
GetItem, and overriding an assessment (the new one valid, the overridden one invalid) is one
atomic conditional write. The rules are SqlAlchemyStore's create/update/delete_assessment.
"""

from __future__ import annotations

import json
import time
from typing import Any

from mlflow.entities.assessment import (
    Assessment,
    Expectation,
    ExpectationValue,
    Feedback,
    FeedbackValue,
)
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, RESOURCE_DOES_NOT_EXIST
from mlflow.store.tracking.dbmodels.models import SqlAssessments

from mlflow_dynamodbstore.compat.trace_analytics import assessment_aggregate
from mlflow_dynamodbstore.repositories.traces.codec import (
    assessment_columns,
    sql_assessment,
)


class AssessmentMissing(Exception):
    """The trace exists but has no assessment with this id."""


def _next_order() -> int:
    # Creation order, as the SQL store's row order returns assessments.
    return time.time_ns()


def add(item: dict[str, Any], new: SqlAssessments) -> dict[str, Any]:
    """The META item with ``new`` added (and the assessment it overrides made invalid)."""
    assessments = dict(item.get("assessments") or {})
    if new.overrides:
        overridden = assessments.get(new.overrides)
        if overridden is None:
            raise MlflowException(
                f"Assessment with ID '{new.overrides}' not found for trace '{new.trace_id}'",
                RESOURCE_DOES_NOT_EXIST,
            )
        assessments[new.overrides] = {**overridden, "valid": False}
    if new.assessment_id in assessments:
        raise MlflowException(
            f"Failed to create assessment for trace '{new.trace_id}' "
            "due to a constraint violation.",
            INTERNAL_ERROR,
        )
    assessments[new.assessment_id] = assessment_columns(new, _next_order())
    item["assessments"] = assessments
    return item


def get(item: dict[str, Any], assessment_id: str) -> Assessment:
    stored = (item.get("assessments") or {}).get(assessment_id)
    if stored is None:
        raise AssessmentMissing(assessment_id)
    return sql_assessment(item["trace_id"], stored).to_mlflow_entity()


def updated(
    existing: Assessment,
    *,
    trace_id: str,
    now: int,
    name: str | None,
    expectation: ExpectationValue | None,
    feedback: FeedbackValue | None,
    rationale: str | None,
    metadata: dict[str, str] | None,
) -> Assessment:
    """SqlAlchemyStore.update_assessment's new assessment: source and span id immutable,
    metadata merged, the other fields replaced when given."""
    if expectation is not None and feedback is not None:
        raise MlflowException.invalid_parameter_value(
            "Cannot specify both `expectation` and `feedback` parameters."
        )
    if expectation is not None and not isinstance(existing, Expectation):
        raise MlflowException.invalid_parameter_value(
            "Cannot update expectation value on a Feedback assessment."
        )
    if feedback is not None and not isinstance(existing, Feedback):
        raise MlflowException.invalid_parameter_value(
            "Cannot update feedback value on an Expectation assessment."
        )
    merged_metadata = None
    if existing.metadata or metadata:
        merged_metadata = dict(existing.metadata or {})
        merged_metadata.update(metadata or {})
    common = {
        "name": name if name is not None else existing.name,
        "source": existing.source,
        "trace_id": trace_id,
        "metadata": merged_metadata,
        "span_id": existing.span_id,
        "create_time_ms": existing.create_time_ms,
        "last_update_time_ms": now,
    }
    if isinstance(existing, Expectation):
        new = Expectation(
            value=expectation.value if expectation is not None else existing.value, **common
        )
    else:
        new = Feedback(
            value=feedback.value if feedback is not None else existing.value,
            error=feedback.error if feedback is not None else existing.error,
            rationale=rationale if rationale is not None else existing.rationale,
            **common,
        )
    new.assessment_id = existing.assessment_id
    new.valid = existing.valid
    new.overrides = existing.overrides
    if hasattr(existing, "run_id"):
        new.run_id = existing.run_id
    return new


def replace_columns(stored: dict[str, Any], new: Assessment) -> dict[str, Any]:
    """The stored columns of an assessment after update_assessment (same columns the SQL
    store's UPDATE sets)."""
    if new.feedback is not None:
        value = new.feedback.value
        error = json.dumps(new.feedback.error.to_dictionary()) if new.feedback.error else None
    else:
        value = new.expectation.value
        error = None
    aggregate_value, is_numeric = assessment_aggregate(value)
    out = {
        **stored,
        "name": new.name,
        "value": json.dumps(value),
        "error": error,
        "last_updated_timestamp": new.last_update_time_ms,
        "rationale": new.rationale,
        "assessment_metadata": json.dumps(new.metadata) if new.metadata else None,
        "aggregate_value": None if aggregate_value is None else repr(float(aggregate_value)),
        "is_numeric_value": bool(is_numeric),
    }
    return {k: v for k, v in out.items() if v is not None}


def remove(item: dict[str, Any], assessment_id: str) -> dict[str, Any] | None:
    """The META item without the assessment (the one it overrode valid again), or None if
    there is no such assessment (deleting is idempotent)."""
    assessments = dict(item.get("assessments") or {})
    doomed = assessments.pop(assessment_id, None)
    if doomed is None:
        return None
    overridden = doomed.get("overrides")
    if overridden and overridden in assessments:
        assessments[overridden] = {**assessments[overridden], "valid": True}
    item["assessments"] = assessments
    return item
