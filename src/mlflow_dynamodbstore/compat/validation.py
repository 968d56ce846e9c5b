"""MLflow's private validators (``mlflow.utils.validation``), the store's only way to them.

The store reuses MLflow's validators so that bad input gets MLflow's own errors; they are
private, so they are imported here, once, with a copy for the releases that lack one.
"""

from __future__ import annotations

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.utils.validation import (
    _REGISTERED_MODEL_ALIAS_LATEST,
    _resolve_experiment_ids_and_locations,
    _strip_mcp_icon_response_fields,
    _validate_batch_log_data,
    _validate_batch_log_limits,
    _validate_dataset_inputs,
    _validate_experiment_artifact_location_length,
    _validate_experiment_name,
    _validate_experiment_tag,
    _validate_length_limit,
    _validate_logged_model_name,
    _validate_mcp_icon_payloads,
    _validate_metric,
    _validate_model_alias_name,
    _validate_model_alias_name_reserved,
    _validate_model_name,
    _validate_model_renaming,
    _validate_model_version_tag,
    _validate_param,
    _validate_param_keys_unique,
    _validate_registered_model_tag,
    _validate_run_id,
    _validate_tag,
    _validate_tag_name,
    _validate_trace_archival_repository_support,
    _validate_trace_archival_retention_string,
    _validate_trace_tag,
    _validate_webhook_events,
    _validate_webhook_name,
    _validate_webhook_url,
)
from mlflow.utils.validation import _validate_model_version as _mlflow_validate_model_version


def _validate_model_version(model_version) -> int:
    """The version as an int, or MLflow's INVALID_PARAMETER_VALUE. Returns the number since
    MLflow 3.16; 3.15's validator returned None."""
    checked = _mlflow_validate_model_version(model_version)
    return int(model_version) if checked is None else checked


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


__all__ = [
    "_REGISTERED_MODEL_ALIAS_LATEST",
    "_parse_experiment_id",
    "_parse_experiment_ids",
    "_resolve_experiment_ids_and_locations",
    "_strip_mcp_icon_response_fields",
    "_validate_batch_log_data",
    "_validate_batch_log_limits",
    "_validate_dataset_inputs",
    "_validate_experiment_artifact_location_length",
    "_validate_experiment_name",
    "_validate_experiment_tag",
    "_validate_length_limit",
    "_validate_logged_model_name",
    "_validate_mcp_icon_payloads",
    "_validate_metric",
    "_validate_model_alias_name",
    "_validate_model_alias_name_reserved",
    "_validate_model_name",
    "_validate_model_renaming",
    "_validate_model_version",
    "_validate_model_version_tag",
    "_validate_param",
    "_validate_param_keys_unique",
    "_validate_registered_model_tag",
    "_validate_run_id",
    "_validate_tag",
    "_validate_tag_name",
    "_validate_trace_archival_repository_support",
    "_validate_trace_archival_retention_string",
    "_validate_trace_tag",
    "_validate_webhook_events",
    "_validate_webhook_name",
    "_validate_webhook_url",
]
