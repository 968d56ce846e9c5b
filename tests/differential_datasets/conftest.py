"""Fixtures of the evaluation dataset differential tests: tests/differential's stores (with
and without workspaces) and fake clock."""

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
from tests.differential.test_workspace_deletion_diff import sides  # noqa: F401
