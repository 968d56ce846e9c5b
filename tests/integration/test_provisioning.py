"""Provisioning: direct CreateTable on DynamoDB Local, CloudFormation on moto server,
idempotence, concurrent first connections and the no-provision option."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import boto3
import pytest
from boto3.dynamodb.conditions import Key
from mlflow.exceptions import MlflowException

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.provisioning import ProvisionMode, ensure_table
from mlflow_dynamodbstore.provisioning.cloudformation import ensure_stack, stack_name_for
from mlflow_dynamodbstore.provisioning.direct import create_table_directly
from mlflow_dynamodbstore.provisioning.ensure import forget_provisioned
from mlflow_dynamodbstore.provisioning.seed import ensure_seeded
from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.schema.table import GSI_COUNT, LSI_COUNT, cloudformation_template
from mlflow_dynamodbstore.uri import parse_dynamodb_uri


def _describe(client, table):
    return client.describe_table(TableName=table)["Table"]


def test_direct_path_creates_the_declared_table_with_ttl(ddb_client, store_uri, table_name):
    uri = parse_dynamodb_uri(store_uri)
    ensure_table(uri, ddb_client, ProvisionMode.AUTO)
    table = _describe(ddb_client, table_name)
    assert table["TableStatus"] == "ACTIVE"
    assert len(table["GlobalSecondaryIndexes"]) == GSI_COUNT
    assert len(table["LocalSecondaryIndexes"]) == LSI_COUNT
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = ddb_client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED" and ttl["AttributeName"] == "ttl"
    # idempotent: a second run (fresh process cache) changes nothing and does not fail
    forget_provisioned()
    ensure_table(uri, ddb_client, ProvisionMode.AUTO)
    create_table_directly(ddb_client, table_name)


def test_no_provision_fails_clearly_when_table_is_missing(ddb_client, store_uri, monkeypatch):
    monkeypatch.setenv("MLFLOW_DYNAMODB_PROVISION", "none")
    with pytest.raises(MlflowException) as info:
        ensure_table(parse_dynamodb_uri(store_uri), ddb_client)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert "does not exist" in info.value.message and "deploy" in info.value.message
    monkeypatch.setenv("MLFLOW_DYNAMODB_PROVISION", "sometimes")
    with pytest.raises(MlflowException, match="is not one of"):
        ensure_table(parse_dynamodb_uri(store_uri), ddb_client)


def test_concurrent_creation_and_seeding_in_threads(ddb_client, table_name):
    errors: list[BaseException] = []

    def first_connection():
        try:
            client = boto3.client(
                "dynamodb",
                endpoint_url=ddb_client.meta.endpoint_url,
                region_name="us-east-1",
            )
            create_table_directly(client, table_name)
            ensure_seeded(TableGateway(client, table_name), "s3://bucket/0")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_connection) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    gateway = TableGateway(ddb_client, table_name)
    assert gateway.get_item(keys.experiment_key("0"))["name"] == "Default"
    assert gateway.get_item(keys.schema_version_key())["version"] == keys.SCHEMA_VERSION
    assert gateway.get_item(keys.counter_key("EXPERIMENT")) is None  # seeding allocates no id
    workspaces = list(gateway.query(Key("GSI1PK").eq(keys.WORKSPACES_GSI1PK), index="GSI1"))
    assert [w["name"] for w in workspaces] == ["default"]


_START_STORE = """
import sys
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
store = DynamoDBTrackingStore(sys.argv[1], "s3://bucket/artifacts")
e = store.get_experiment_by_name("Default")
print(e.experiment_id, e.artifact_location)
"""


def test_two_servers_starting_at_once(store_uri, ddb_client, table_name):
    """Two processes build the tracking store against a table that does not exist yet."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _START_STORE, store_uri],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert out.strip() == "0 s3://bucket/artifacts/0"
    assert _describe(ddb_client, table_name)["TableStatus"] == "ACTIVE"


def test_cloudformation_path_on_moto(moto_server, table_name):
    """AWS path: a stack owns the table. moto server plays CloudFormation (and, for this
    test only, the DynamoDB that CloudFormation creates the table in)."""
    session = boto3.session.Session(region_name="us-east-1")
    cfn = session.client("cloudformation", endpoint_url=moto_server)
    ddb = session.client("dynamodb", endpoint_url=moto_server)
    uri = parse_dynamodb_uri(f"dynamodb://us-east-1/{table_name}")

    ensure_table(uri, ddb, ProvisionMode.CLOUDFORMATION, cfn=cfn)
    stack = cfn.describe_stacks(StackName=stack_name_for(table_name))["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    table = _describe(ddb, table_name)
    assert table["TableStatus"] == "ACTIVE"
    assert len(table["GlobalSecondaryIndexes"]) == GSI_COUNT
    assert len(table["LocalSecondaryIndexes"]) == LSI_COUNT
    # Re-running against the existing stack is a no-op, not an error.
    assert ensure_stack(cfn, table_name) == "CREATE_COMPLETE"


def test_cloudformation_template_declares_the_same_table():
    template = json.loads(cloudformation_template("mlflow"))
    props = template["Resources"]["MlflowTable"]["Properties"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert template["Resources"]["MlflowTable"]["DeletionPolicy"] == "Retain"
