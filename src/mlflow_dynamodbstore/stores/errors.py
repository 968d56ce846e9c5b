"""Gateway errors that escape a store call, as MLflow errors, in one place.

Repositories turn the errors they expect into domain errors (a too-large experiment tag map
is "cannot hold more tags"); anything else would otherwise reach MLflow's server as a 500
with a botocore traceback. ``translate_gateway_errors`` wraps a store class's methods once:

- what DynamoDB refuses (an item or transaction over its size limits, a key too long, an
  invalid request) answers INVALID_PARAMETER_VALUE (400) with DynamoDB's message;
- what may succeed later (throttling, internal errors or timeouts that outlasted botocore's
  retries, unprocessed batch items, transactions or optimistic writes that kept losing to
  concurrent writers) answers TEMPORARILY_UNAVAILABLE (503), which MLflow's client retries.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, TEMPORARILY_UNAVAILABLE

from mlflow_dynamodbstore.gateway import InvalidRequest, ItemTooLarge, TransactionCancelled
from mlflow_dynamodbstore.gateway.errors import Conflict, Contention, Unavailable

_PACKAGE = "mlflow_dynamodbstore."
StoreClass = TypeVar("StoreClass", bound=type)


# Errors after which the same call may succeed: the request was not (or may not have been)
# applied because of load or concurrency, not because of its content.
RETRYABLE = (Unavailable, TransactionCancelled, Contention, Conflict)


def as_mlflow_error(exc: InvalidRequest | Exception) -> MlflowException:
    if isinstance(exc, RETRYABLE):
        return MlflowException(
            f"DynamoDB is temporarily unavailable; try again ({exc})", TEMPORARILY_UNAVAILABLE
        )
    if isinstance(exc, ItemTooLarge):
        message = (
            "The change would exceed DynamoDB's size limits (400 KB per item, 4 MB per "
            f"transaction): {exc.message}"
        )
    else:
        message = f"DynamoDB refused the request: {exc.message}"
    return MlflowException(message, INVALID_PARAMETER_VALUE)


def _translating(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except (InvalidRequest, *RETRYABLE) as exc:  # ItemTooLarge included
            raise as_mlflow_error(exc) from None

    wrapper.__translates_gateway_errors__ = True  # type: ignore[attr-defined]
    return wrapper


def translate_gateway_errors(cls: StoreClass) -> StoreClass:
    """Wrap the store's own methods that MLflow calls: the public ones and the private hooks
    of MLflow's base classes (``_search_runs``, ``_delete_traces``...) that this package
    implements. Methods inherited unchanged from MLflow stay as they are (they reach the
    table only through the wrapped ones)."""
    mlflow_hooks = {
        name
        for base in cls.__mro__
        if not base.__module__.startswith(_PACKAGE)
        for name in vars(base)
    }
    for name in dir(cls):
        if name.startswith("__"):
            continue
        attr = inspect.getattr_static(cls, name)
        if not inspect.isfunction(attr) or not attr.__module__.startswith(_PACKAGE):
            continue
        if getattr(attr, "__translates_gateway_errors__", False):
            continue
        if name.startswith("_") and name not in mlflow_hooks:
            continue
        setattr(cls, name, _translating(attr))
    return cls
