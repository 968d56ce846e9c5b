"""boto3 clients for a parsed store URI, with botocore's own retry handling."""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config

from mlflow_dynamodbstore.uri import DynamoDBUri

DEFAULT_REGION = "us-east-1"
# botocore's "standard" retry mode retries throttling and transient errors with
# exponential backoff and jitter; the attempt budget can be raised by operators.
RETRY_CONFIG = Config(
    retries={
        "mode": os.environ.get("MLFLOW_DYNAMODB_RETRY_MODE", "standard"),
        "max_attempts": int(os.environ.get("MLFLOW_DYNAMODB_MAX_ATTEMPTS", "10")),
    },
    max_pool_connections=50,
)


def make_session(uri: DynamoDBUri) -> boto3.session.Session:
    """A session from the standard AWS configuration (credential chain, profiles, env).

    A local endpoint accepts any credentials, so a machine without AWS credentials gets
    dummy ones there; against AWS the normal chain is used unchanged.
    """
    session = boto3.session.Session(region_name=uri.region)
    if session.region_name is None:
        session = boto3.session.Session(region_name=DEFAULT_REGION)
    if uri.is_local and session.get_credentials() is None:
        session = boto3.session.Session(
            region_name=session.region_name,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
    return session


def make_client(uri: DynamoDBUri, service: str = "dynamodb", **kwargs: Any) -> Any:
    """A client for ``service``; DynamoDB goes to the URI's endpoint when it names one
    (otherwise boto3 applies ``AWS_ENDPOINT_URL_DYNAMODB`` itself)."""
    session = make_session(uri)
    if service == "dynamodb" and uri.endpoint_url:
        kwargs.setdefault("endpoint_url", uri.endpoint_url)
    return session.client(service, config=RETRY_CONFIG, **kwargs)
