"""``mlflow-dynamodbstore``: admin commands (click)."""

from __future__ import annotations

import click

from mlflow_dynamodbstore.cli.auth import auth
from mlflow_dynamodbstore.cli.config import config
from mlflow_dynamodbstore.cli.fts import fts
from mlflow_dynamodbstore.cli.local import local
from mlflow_dynamodbstore.cli.registry import registry
from mlflow_dynamodbstore.cli.runs import runs
from mlflow_dynamodbstore.cli.table import deploy, destroy, install_dynamodb_local
from mlflow_dynamodbstore.cli.tags import tags
from mlflow_dynamodbstore.cli.traces import traces
from mlflow_dynamodbstore.cli.ttl import ttl
from mlflow_dynamodbstore.cli.workspaces import workspace


@click.group()
@click.version_option(package_name="mlflow-dynamodbstore")
def cli() -> None:
    """Administer an MLflow DynamoDB store."""


cli.add_command(auth)
cli.add_command(local)
cli.add_command(deploy)
cli.add_command(destroy)
cli.add_command(install_dynamodb_local)
cli.add_command(workspace)
cli.add_command(traces)
cli.add_command(config)
cli.add_command(ttl)
cli.add_command(fts)
cli.add_command(tags)
cli.add_command(registry)
cli.add_command(runs)

if __name__ == "__main__":
    cli()
