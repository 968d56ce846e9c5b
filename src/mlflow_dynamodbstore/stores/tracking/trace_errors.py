"""The trace operations' shared errors, with the SQL store's messages and codes."""

from __future__ import annotations

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST


def _not_found(trace_id: str) -> MlflowException:
    return MlflowException(f"Trace with ID '{trace_id}' not found.", RESOURCE_DOES_NOT_EXIST)


def _too_large(trace_id: str) -> MlflowException:
    return MlflowException(
        f"Trace '{trace_id}' cannot hold more tags, metadata or assessments "
        "(DynamoDB's 400 KB item limit).",
        INVALID_PARAMETER_VALUE,
    )
