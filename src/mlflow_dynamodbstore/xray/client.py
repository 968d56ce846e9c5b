"""The X-Ray client: created only when the integration is on, from the standard AWS
configuration (region from the store URI or the environment, the credential chain,
``AWS_ENDPOINT_URL_XRAY`` / ``AWS_ENDPOINT_URL`` applied by botocore itself)."""

from __future__ import annotations

from typing import Any

from botocore.config import Config

from mlflow_dynamodbstore.gateway.client import make_session
from mlflow_dynamodbstore.uri import DynamoDBUri

# Reads must not hang a request: short timeouts, botocore's standard retries for throttling.
XRAY_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 4},
    connect_timeout=3,
    read_timeout=10,
)


def make_xray_client(uri: DynamoDBUri) -> Any:
    return make_session(uri).client("xray", config=XRAY_CONFIG)
