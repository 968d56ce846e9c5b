"""MLflow 3.17's trace analytics helpers (promoted session/token/cost metadata).

MLflow 3.17 added ``mlflow.store.tracking.utils.trace_analytics``; on older releases the
pure-Python part of it is copied here (its SQL filter builder is not needed: the store has
its own). The store keeps 3.17's semantics on every release.
"""

from __future__ import annotations

try:
    from mlflow.store.tracking.utils.trace_analytics import (
        COST_COLUMN_BY_KEY,
        PROMOTED_TRACE_METADATA_KEYS,
        TOKEN_COLUMN_BY_KEY,
        TRACE_ANALYTICS_COLUMNS_BY_METADATA_KEY,
        analytics_columns_from_metadata,
        assessment_aggregate,
        bounded_model_dimension,
        compatibility_metadata_from_columns,
        finite_float_or_none,
        token_count_or_none,
        validate_session_id,
        validate_trace_name,
    )
except ImportError:  # before MLflow 3.17
    from mlflow_dynamodbstore.compat._trace_analytics_3_17 import (
        COST_COLUMN_BY_KEY,
        PROMOTED_TRACE_METADATA_KEYS,
        TOKEN_COLUMN_BY_KEY,
        TRACE_ANALYTICS_COLUMNS_BY_METADATA_KEY,
        analytics_columns_from_metadata,
        assessment_aggregate,
        bounded_model_dimension,
        compatibility_metadata_from_columns,
        finite_float_or_none,
        token_count_or_none,
        validate_session_id,
        validate_trace_name,
    )

__all__ = [
    "COST_COLUMN_BY_KEY",
    "PROMOTED_TRACE_METADATA_KEYS",
    "TOKEN_COLUMN_BY_KEY",
    "TRACE_ANALYTICS_COLUMNS_BY_METADATA_KEY",
    "analytics_columns_from_metadata",
    "assessment_aggregate",
    "bounded_model_dimension",
    "compatibility_metadata_from_columns",
    "finite_float_or_none",
    "token_count_or_none",
    "validate_session_id",
    "validate_trace_name",
]
