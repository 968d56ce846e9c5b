"""The X-Ray switch: a table setting (MLFLOW_DYNAMODB_XRAY, persisted when set) and the
store URI's ?xray= that overrides it for one process."""

from __future__ import annotations

from mlflow_dynamodbstore.config.items import ConfigItems
from mlflow_dynamodbstore.stores.connection import connect


def test_switch_is_a_table_setting_and_the_uri_overrides_it(store_uri):
    off = connect(store_uri, shared=False, settings_environ={})
    assert off.xray_enabled is False
    on = connect(store_uri, shared=False, settings_environ={"MLFLOW_DYNAMODB_XRAY": "true"})
    assert on.xray_enabled is True
    assert ConfigItems(on.gateway).load().xray is True
    # Another server started without the variable follows the table.
    assert connect(store_uri, shared=False, settings_environ={}).xray_enabled is True
    # The URI wins for its own process.
    pinned = connect(f"{store_uri}?xray=false", shared=False, settings_environ={})
    assert pinned.xray_enabled is False
    # Setting the variable to false turns it off table-wide.
    connect(store_uri, shared=False, settings_environ={"MLFLOW_DYNAMODB_XRAY": "false"})
    assert ConfigItems(on.gateway).load().xray is False
