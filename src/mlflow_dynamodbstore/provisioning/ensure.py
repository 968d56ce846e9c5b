"""Decide how the table is provisioned and do it once per process."""

from __future__ import annotations

import os
import threading
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST

from mlflow_dynamodbstore.fts.lookup import mark_new_table_ready
from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.gateway.client import make_client
from mlflow_dynamodbstore.provisioning.cloudformation import ensure_stack
from mlflow_dynamodbstore.provisioning.direct import create_table_directly
from mlflow_dynamodbstore.repositories.registry import order_state
from mlflow_dynamodbstore.repositories.traces import listings as trace_listings
from mlflow_dynamodbstore.uri import DynamoDBUri

PROVISION_ENV = "MLFLOW_DYNAMODB_PROVISION"


class ProvisionMode(StrEnum):
    AUTO = "auto"  # CloudFormation on AWS, CreateTable on a local endpoint
    DIRECT = "direct"
    CLOUDFORMATION = "cloudformation"
    NONE = "none"  # never create; fail clearly when the table is missing

    @classmethod
    def from_env(cls) -> ProvisionMode:
        raw = os.environ.get(PROVISION_ENV, cls.AUTO.value).strip().lower()
        try:
            return cls(raw)
        except ValueError:
            valid = ", ".join(m.value for m in cls)
            raise MlflowException.invalid_parameter_value(
                f"{PROVISION_ENV}={raw!r} is not one of: {valid}"
            ) from None


_ready: set[tuple] = set()
_lock = threading.Lock()


def _table_status(client: Any, table_name: str) -> str | None:
    try:
        return client.describe_table(TableName=table_name)["Table"]["TableStatus"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise


def ensure_table(
    uri: DynamoDBUri, client: Any, mode: ProvisionMode | None = None, cfn: Any = None
) -> None:
    """Return once the table is ACTIVE, creating it if needed and allowed."""
    mode = mode or ProvisionMode.from_env()
    cache_key = (uri.effective_endpoint_url, client.meta.region_name, uri.table_name)
    if cache_key in _ready:
        return
    with _lock:
        if cache_key in _ready:
            return
        status = _table_status(client, uri.table_name)
        if status != "ACTIVE":
            _provision(uri, client, mode, status, cfn)
        _ready.add(cache_key)


def _provision(
    uri: DynamoDBUri, client: Any, mode: ProvisionMode, status: str | None, cfn: Any
) -> None:
    table = uri.table_name
    if status is not None or mode == ProvisionMode.NONE:
        if status is None:
            raise MlflowException(
                f"DynamoDB table '{table}' does not exist"
                f"{' at ' + uri.effective_endpoint_url if uri.effective_endpoint_url else ''} "
                f"and {PROVISION_ENV}=none forbids creating it. Create it with "
                f"`mlflow-dynamodbstore deploy --table {table}` (or let a role that may create "
                "tables start the server once).",
                error_code=RESOURCE_DOES_NOT_EXIST,
            )
        # Being created (or updated) by someone else: wait for it.
        client.get_waiter("table_exists").wait(
            TableName=table, WaiterConfig={"Delay": 2, "MaxAttempts": 600}
        )
        return
    use_cfn = mode == ProvisionMode.CLOUDFORMATION or (
        mode == ProvisionMode.AUTO and not uri.is_local
    )
    if use_cfn:
        ensure_stack(cfn or make_client(uri, "cloudformation"), table)
        client.get_waiter("table_exists").wait(
            TableName=table, WaiterConfig={"Delay": 2, "MaxAttempts": 600}
        )
    else:
        create_table_directly(client, table)
    # A table created now has postings for every name from its first write, and the
    # registry's ordered listing keys on every model and version.
    mark_new_table_ready(TableGateway(client, table))
    order_state.mark_new_table_ready(TableGateway(client, table))
    trace_listings.mark_new_table_ready(TableGateway(client, table))


def forget_provisioned() -> None:
    """Drop the per-process cache (tests that delete tables use it)."""
    with _lock:
        _ready.clear()
