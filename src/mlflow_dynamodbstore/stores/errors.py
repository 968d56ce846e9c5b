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


def _size(value: Any) -> tuple[int, str]:
    """Bytes a value takes and, for tags/params (a dict, or a list of key/value entities),
    the key of its biggest element."""
    if isinstance(value, str):
        return len(value.encode()), ""
    if isinstance(value, bytes):
        return len(value), ""
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list | tuple):
        pairs = [(getattr(e, "key", None), getattr(e, "value", None)) for e in value]
    else:
        return 0, ""
    sizes = [
        (len(str(k or "").encode()) + len(str(v or "").encode()), str(k or "")) for k, v in pairs
    ]
    if not sizes:
        return 0, ""
    return sum(size for size, _ in sizes), max(sizes)[1]


def largest_field(method: Callable[..., Any], args: tuple, kwargs: dict) -> str | None:
    """The argument of a call that most likely outgrew a DynamoDB limit (the largest one),
    as ``'description'`` or ``'tags' (key 'k')``: DynamoDB's message names no field."""
    try:
        bound = inspect.signature(method).bind_partial(*args, **kwargs).arguments
    except TypeError:
        return None
    sizes = {name: _size(value) for name, value in bound.items() if name != "self"}
    if not sizes:
        return None
    name, (size, key) = max(sizes.items(), key=lambda kv: kv[1][0])
    if size == 0:
        return None
    return f"'{name}'" + (f" (key '{key[:100]}')" if key else "") + f", {size} bytes"


def as_mlflow_error(exc: InvalidRequest | Exception, field: str | None = None) -> MlflowException:
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
    if field:
        message += f" The largest value given is {field}."
    return MlflowException(message, INVALID_PARAMETER_VALUE)


def _translating(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except RETRYABLE as exc:
            raise as_mlflow_error(exc) from None
        except InvalidRequest as exc:  # ItemTooLarge included
            raise as_mlflow_error(exc, largest_field(method, args, kwargs)) from None

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
