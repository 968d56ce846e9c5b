"""MLflow's SQL assessment row (``SqlAssessments``) across releases.

The store keeps assessments as that row's columns. MLflow 3.17 added ``aggregate_value`` and
``is_numeric_value`` (what trace analytics aggregate); before it they are computed here the
way 3.17's ``SqlAssessments.from_mlflow_entity`` does, so the store answers as on 3.17.
"""

from __future__ import annotations

import json
from typing import Any

from mlflow.store.tracking.dbmodels.models import SqlAssessments

from mlflow_dynamodbstore.compat.trace_analytics import assessment_aggregate

_HAS_AGGREGATE_COLUMNS = hasattr(SqlAssessments, "aggregate_value")


def aggregate_columns(sql_assessment: SqlAssessments) -> dict[str, Any]:
    """``aggregate_value`` and ``is_numeric_value`` of a row built from an assessment."""
    if _HAS_AGGREGATE_COLUMNS:
        return {
            "aggregate_value": sql_assessment.aggregate_value,
            "is_numeric_value": sql_assessment.is_numeric_value,
        }
    value = json.loads(sql_assessment.value) if sql_assessment.value is not None else None
    aggregate_value, is_numeric_value = assessment_aggregate(value)
    return {"aggregate_value": aggregate_value, "is_numeric_value": is_numeric_value}


def sql_assessment_row(**columns: Any) -> SqlAssessments:
    """A ``SqlAssessments`` from stored columns, less those this release's row lacks."""
    return SqlAssessments(**{c: v for c, v in columns.items() if hasattr(SqlAssessments, c)})
