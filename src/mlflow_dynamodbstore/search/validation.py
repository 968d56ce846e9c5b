"""Argument checks shared by the search entry points, with MLflow's SQL store's messages."""

from __future__ import annotations

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.store.tracking import SEARCH_MAX_RESULTS_THRESHOLD


def validate_max_results(max_results: int | None, *, allow_null: bool = False) -> None:
    if (not allow_null and max_results is None) or (max_results is not None and max_results < 1):
        raise MlflowException(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be "
            "a positive integer",
            INVALID_PARAMETER_VALUE,
        )
    if max_results is not None and max_results > SEARCH_MAX_RESULTS_THRESHOLD:
        raise MlflowException(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be at "
            f"most {SEARCH_MAX_RESULTS_THRESHOLD}",
            INVALID_PARAMETER_VALUE,
        )


def integer_attribute_value(key: str, value: object) -> int:
    """The integer a numeric attribute is compared with (a creation or update time), refused
    as the SQL store's searches refuse it: a float literal, or anything not an integer."""
    if isinstance(value, float):
        raise MlflowException.invalid_parameter_value(
            f"Invalid value for numeric attribute '{key}': {str(value)!r}"
        )
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise MlflowException.invalid_parameter_value(
            f"Invalid value for numeric attribute '{key}': {value!r}"
        ) from None
