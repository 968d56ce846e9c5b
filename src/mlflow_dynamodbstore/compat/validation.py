"""MLflow's private validators that older supported releases lack."""

from __future__ import annotations

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

try:
    from mlflow.utils.validation import _parse_experiment_id, _parse_experiment_ids
except ImportError:  # added in MLflow 3.17; copied from its mlflow/utils/validation.py

    def _parse_experiment_id(experiment_id: str | int) -> int:
        """Parse a non-None experiment ID into an integer."""
        try:
            return int(experiment_id)
        except (ValueError, TypeError):
            raise MlflowException(
                f"Invalid experiment ID '{experiment_id}'. Experiment ID must be a valid integer.",
                error_code=INVALID_PARAMETER_VALUE,
            ) from None

    def _parse_experiment_ids(experiment_ids: list[str | int]) -> list[int]:
        """Parse non-None experiment IDs into integers."""
        return [_parse_experiment_id(experiment_id) for experiment_id in experiment_ids]


__all__ = ["_parse_experiment_id", "_parse_experiment_ids"]
