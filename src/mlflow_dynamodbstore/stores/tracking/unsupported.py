"""MLflow tracking features this store does not implement yet.

MLflow's AbstractStore raises a bare NotImplementedError for them, which the server turns
into a 500 (the GenAI pages call some of them, e.g. evaluation dataset search, on every
load). Here they raise a clear 501 NOT_IMPLEMENTED instead; the exception is also a
NotImplementedError, so MLflow's own "store does not support this" fallbacks still work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlflow.exceptions import MlflowNotImplementedException


class NotSupportedByDynamoDBStore(MlflowNotImplementedException, NotImplementedError):
    pass


UNSUPPORTED_TRACKING_METHODS = (
    # trace analytics
    "get_online_trace_details", "unlink_traces_from_run",
    # MCP server registry: trace links (MLflow's SQL store does not implement them either)
    "get_mcp_server_versions_for_trace", "link_mcp_server_versions_to_trace",
)  # fmt: skip


def _not_supported(name: str) -> Callable[..., Any]:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotSupportedByDynamoDBStore(
            f"'{name}' is not supported by the DynamoDB tracking store (mlflow-dynamodbstore) yet"
        )

    method.__name__ = name
    return method


def mark_unsupported(store_class: type, base_class: type) -> None:
    """Replace each listed method that ``store_class`` still inherits unchanged from
    ``base_class``; a method implemented since is left alone."""
    for name in UNSUPPORTED_TRACKING_METHODS:
        if getattr(store_class, name, None) is getattr(base_class, name, None):
            setattr(store_class, name, _not_supported(name))
