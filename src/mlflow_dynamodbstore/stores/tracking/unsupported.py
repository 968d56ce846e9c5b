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
    # evaluation datasets (mlflow.genai.datasets)
    "create_dataset", "get_dataset", "delete_dataset", "search_datasets",
    "upsert_dataset_records", "delete_dataset_records", "set_dataset_tags",
    "delete_dataset_tag", "get_dataset_experiment_ids", "_load_dataset_records",
    "add_dataset_to_experiments", "remove_dataset_from_experiments",
    # scorers and online scoring
    "register_scorer", "list_scorers", "get_scorer", "list_scorer_versions", "delete_scorer",
    "upsert_online_scoring_config", "get_online_scoring_configs", "get_active_online_scorers",
    # labeling: label schemas and review queues
    "create_label_schema", "get_label_schema", "get_label_schema_by_name",
    "list_label_schemas", "update_label_schema", "delete_label_schema",
    "create_review_queue", "get_or_create_user_queue", "get_review_queue",
    "get_review_queue_by_name", "list_review_queues", "update_review_queue",
    "delete_review_queue", "add_items_to_review_queue", "remove_items_from_review_queue",
    "list_review_queue_items", "set_review_queue_item_status",
    # issues
    "create_issue", "get_issue", "update_issue", "search_issues",
    # trace analytics and archival
    "archive_traces", "get_online_trace_details", "find_completed_sessions",
    "query_trace_metrics", "calculate_trace_filter_correlation",
    "unlink_traces_from_run", "link_prompts_to_trace",
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
