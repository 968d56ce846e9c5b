"""Items every table starts with: the default workspace, experiment 0, the schema version."""

from __future__ import annotations

import contextlib

from boto3.dynamodb.conditions import Attr
from mlflow.utils.time import get_current_time_millis
from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

from mlflow_dynamodbstore.config.settings import ALWAYS_DENORMALIZED_TAGS
from mlflow_dynamodbstore.fts.lookup import mark_new_table_ready
from mlflow_dynamodbstore.gateway import ConditionFailed, TableGateway
from mlflow_dynamodbstore.repositories.experiments import ExperimentRepository
from mlflow_dynamodbstore.repositories.registry import order_state
from mlflow_dynamodbstore.repositories.tag_index import TABLE_SCOPE
from mlflow_dynamodbstore.repositories.traces import listings as trace_listings
from mlflow_dynamodbstore.schema import keys, tag_index_keys


def ensure_seeded(gateway: TableGateway, default_experiment_artifact_location: str) -> None:
    """Idempotent and race-safe: every write is conditional, and the schema-version item is
    written last so an interrupted seed is completed by the next server to start."""
    if gateway.get_item(keys.schema_version_key()) is not None:
        return
    now = get_current_time_millis()
    _put_if_absent(
        gateway,
        {
            **keys.workspace_key(DEFAULT_WORKSPACE_NAME),
            **keys.workspace_list_keys(DEFAULT_WORKSPACE_NAME),
            "name": DEFAULT_WORKSPACE_NAME,
            "description": "Default workspace for legacy resources",  # as MLflow's SQL store
            "creation_time": now,
        },
    )
    ExperimentRepository(gateway).ensure_default(default_experiment_artifact_location, now)
    # A new table indexes every name from its first write: the trigram index is complete.
    mark_new_table_ready(gateway)
    # ... and the registry's ordered listings (keyset paging of the registry searches).
    order_state.mark_new_table_ready(gateway)
    # ... and the trace listing by execution time (keyset paging of search_traces).
    trace_listings.mark_new_table_ready(gateway)
    # A new table has no run or experiment without tag index entries: the always-indexed
    # globs are complete from the start (older tables need `tags backfill` first).
    _put_if_absent(
        gateway,
        {
            **tag_index_keys.state_key(),
            "ready": {TABLE_SCOPE: list(ALWAYS_DENORMALIZED_TAGS)},
        },
    )
    _put_if_absent(
        gateway, {**keys.schema_version_key(), "version": keys.SCHEMA_VERSION, "created": now}
    )


def _put_if_absent(gateway: TableGateway, item: dict) -> None:
    with contextlib.suppress(ConditionFailed):
        gateway.put_item(item, condition=Attr("PK").not_exists())
