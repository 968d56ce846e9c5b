"""Size checks that turn DynamoDB's 400 KB item limit into clear bad-input errors.

A registered model's META item holds its description, tags and aliases; a version item its
description and tags. MLflow allows 100,000 characters per tag value, so a handful of huge
tags could outgrow one item: such writes are refused up front with INVALID_PARAMETER_VALUE
instead of failing inside DynamoDB (a 500).
"""

from __future__ import annotations

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from mlflow_dynamodbstore.gateway.limits import MAX_ITEM_BYTES

# DynamoDB's MAX_ITEM_BYTES less room for the fixed attributes and key names of the item.
MAX_ITEM_PAYLOAD_BYTES = 350_000
assert MAX_ITEM_PAYLOAD_BYTES < MAX_ITEM_BYTES


def _size(*parts: object) -> int:
    total = 0
    for part in parts:
        if isinstance(part, dict):
            total += sum(len(str(k).encode()) + len(str(v or "").encode()) for k, v in part.items())
        elif part is not None:
            total += len(str(part).encode())
    return total


def check_item_payload(what: str, *parts: object) -> None:
    size = _size(*parts)
    if size > MAX_ITEM_PAYLOAD_BYTES:
        raise MlflowException(
            f"The description, tags and aliases of a {what} may hold at most "
            f"{MAX_ITEM_PAYLOAD_BYTES} bytes in total (DynamoDB's item size limit); this "
            f"change would make them {size} bytes.",
            INVALID_PARAMETER_VALUE,
        )
