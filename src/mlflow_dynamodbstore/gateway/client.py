"""boto3 clients for a parsed store URI, with botocore's own retry handling."""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config

from mlflow_dynamodbstore.gateway.faults import install_from_environment
from mlflow_dynamodbstore.uri import DynamoDBUri

DEFAULT_REGION = "us-east-1"


def retry_config() -> Config:
    """botocore's "standard" retry mode retries throttling and transient errors (5xx,
    timeouts, dropped connections) with exponential backoff and jitter; operators can change
    the attempt budget. Read when a client is made, so a test can lower it for its store."""
    return Config(
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


def probe_client(uri: DynamoDBUri) -> Any:
    """A DynamoDB client for asking whether DynamoDB answers at all: one attempt, no
    backoff (gateway/startup.py), so a server whose DynamoDB is down answers 503 at once. A
    refused connection fails at once; the timeouts bound an unreachable host or a DynamoDB
    too slow to answer (well inside MLflow's client timeout of 120 s)."""
    kwargs = {"endpoint_url": uri.endpoint_url} if uri.endpoint_url else {}
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=3, read_timeout=15
    )
    return make_session(uri).client("dynamodb", config=config, **kwargs)


def make_client(uri: DynamoDBUri, service: str = "dynamodb", **kwargs: Any) -> Any:
    """A client for ``service``; DynamoDB goes to the URI's endpoint when it names one
    (otherwise boto3 applies ``AWS_ENDPOINT_URL_DYNAMODB`` itself)."""
    session = make_session(uri)
    if service == "dynamodb" and uri.endpoint_url:
        kwargs.setdefault("endpoint_url", uri.endpoint_url)
    client = session.client(service, config=retry_config(), **kwargs)
    if service == "dynamodb":
        install_from_environment(client)  # test faults; nothing unless a test asked for them
    return client
