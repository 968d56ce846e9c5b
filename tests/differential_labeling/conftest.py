"""Fixtures of the labeling differential tests: the same SqlAlchemyStore (SQLite) and
DynamoDBTrackingStore fixtures, with the fake clock, as tests/differential."""

from tests.differential.conftest import (  # noqa: F401
    artifact_root,
    dynamo_store,
    fake_clock,
    sql_store,
    sql_template,
    workspaces_on,
    ws_dynamo_store,
    ws_sql_store,
)
