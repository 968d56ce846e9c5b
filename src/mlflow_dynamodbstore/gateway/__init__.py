"""Thin wrapper over the boto3 DynamoDB client."""

from mlflow_dynamodbstore.gateway.errors import (
    ConditionFailed,
    InvalidRequest,
    ItemTooLarge,
    TransactionCancelled,
)
from mlflow_dynamodbstore.gateway.stats import RequestStats
from mlflow_dynamodbstore.gateway.table_gateway import TableGateway

__all__ = [
    "ConditionFailed",
    "InvalidRequest",
    "ItemTooLarge",
    "RequestStats",
    "TableGateway",
    "TransactionCancelled",
]
