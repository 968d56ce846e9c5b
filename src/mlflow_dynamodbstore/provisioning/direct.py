"""Direct CreateTable, for DynamoDB Local and other non-AWS endpoints."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

from mlflow_dynamodbstore.schema.table import TTL_ATTRIBUTE, create_table_request

_logger = logging.getLogger(__name__)


def create_table_directly(client: Any, table_name: str) -> None:
    """Create the table unless it exists, wait until ACTIVE, enable TTL. Idempotent, and
    safe when several processes run it at once (the losers wait for the winner's table)."""
    try:
        client.create_table(**create_table_request(table_name))
        _logger.info("Creating DynamoDB table %s", table_name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    client.get_waiter("table_exists").wait(
        TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    enable_ttl(client, table_name)


def enable_ttl(client: Any, table_name: str) -> None:
    status = client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    if status.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return
    try:
        client.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
        )
    except ClientError as exc:
        # Another process enabled it between our describe and update.
        if "already enabled" not in str(exc).lower():
            raise
