"""``mlflow-dynamodbstore local``: an MLflow server on DynamoDB Local, data kept on disk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import click

from mlflow_dynamodbstore.local.dynamodb_local import DynamoDBLocal, free_port


@click.command()
@click.option(
    "--data-dir",
    default="mlflow-dynamodb-data",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where DynamoDB Local keeps its database file and MLflow its artifacts.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int, help="MLflow server port.")
@click.option(
    "--dynamodb-port", default=None, type=int, help="DynamoDB Local port (default: a free one)."
)
@click.option("--table", default="mlflow", show_default=True)
@click.option("--workers", default=1, show_default=True, type=int)
def local(
    data_dir: str, host: str, port: int, dynamodb_port: int | None, table: str, workers: int
) -> None:
    """Run `mlflow server` backed by DynamoDB Local; stop both with Ctrl-C."""
    data = Path(data_dir).resolve()
    ddb = DynamoDBLocal(port=dynamodb_port or free_port(), db_path=data / "dynamodb")
    click.echo(f"Starting DynamoDB Local on port {ddb.port} (data in {ddb.db_path})")
    ddb.start()
    store_uri = f"dynamodb://127.0.0.1:{ddb.port}/{table}"
    cmd = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", store_uri,
        "--artifacts-destination", str(data / "artifacts"),
        "--host", host,
        "--port", str(port),
        "--workers", str(workers),
    ]  # fmt: skip
    click.echo(f"Starting MLflow server on http://{host}:{port} ({store_uri})")
    env = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true"}
    # MLflow's job runner (UI-launched GenAI jobs) keeps its job records in the table
    # (docs/jobs.md); MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false still turns it off.
    # MLflow 3.17's own import of a deprecated Starlette module warns at every start; it says
    # nothing about this setup.
    env.setdefault("PYTHONWARNINGS", "ignore:starlette.middleware.wsgi is deprecated")
    server = subprocess.Popen(cmd, env=env)

    def forward(signum: int, _frame: object) -> None:
        server.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        code = server.wait()
    except KeyboardInterrupt:
        server.send_signal(signal.SIGINT)
        code = server.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
        if server.poll() is None:
            server.terminate()
            server.wait()
        ddb.stop()
        click.echo("Stopped MLflow server and DynamoDB Local")
    sys.exit(code)
