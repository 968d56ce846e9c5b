"""Shared fixtures: one DynamoDB Local per pytest(-xdist) worker, a fresh table per test."""

from __future__ import annotations

import contextlib
import functools
import os
import uuid

import pytest

# Tests must never reach AWS: no metadata lookups, dummy credentials, a fixed region.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
# Request-count tests must not see a settings refresh (one GetItem) land in their window.
os.environ.setdefault("MLFLOW_DYNAMODB_CONFIG_REFRESH_SECONDS", "60")
for _var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
    os.environ.pop(_var, None)


def _share_botocore_data_loader() -> None:
    """One botocore data loader for every session in a test process. The store opens two
    boto3 sessions per table URI, and each new session's loader parses botocore's JSON
    models (endpoints, the DynamoDB service) again: 0.3 s of CPU per fresh table, most of
    a fresh store's start, across 800 tests. The files never change within a run; a server
    process (one table) is unaffected. Nothing in src/ changes."""
    import botocore.session

    botocore.session.create_loader = functools.cache(botocore.session.create_loader)


_share_botocore_data_loader()

from mlflow_dynamodbstore.local.dynamodb_local import DynamoDBLocal  # noqa: E402


@pytest.fixture(scope="session")
def dynamodb_local():
    """A DynamoDB Local process (in memory) for this worker."""
    ddb = DynamoDBLocal().start()
    yield ddb
    ddb.stop()


@pytest.fixture(scope="session")
def dynamodb_endpoint(dynamodb_local) -> str:
    return dynamodb_local.endpoint_url


@pytest.fixture
def table_name() -> str:
    return f"t{uuid.uuid4().hex[:16]}"


@pytest.fixture
def store_uri(dynamodb_local, table_name) -> str:
    """A ``dynamodb://`` URI naming a table that no other test uses; dropped afterwards so
    the worker's in-memory DynamoDB Local does not keep every test's data."""
    uri = f"dynamodb://127.0.0.1:{dynamodb_local.port}/{table_name}"
    yield uri
    import boto3

    from mlflow_dynamodbstore.stores import connection

    # The process-wide connection cache holds one botocore client (~10 MB) per URI; a
    # worker running a thousand tests would otherwise keep a thousand of them.
    with connection._lock:
        dropped = connection._connections.pop(uri, None)
    if dropped is not None:
        dropped.client.close()

    client = boto3.client(
        "dynamodb", endpoint_url=dynamodb_local.endpoint_url, region_name="us-east-1"
    )
    with contextlib.suppress(client.exceptions.ResourceNotFoundException):
        client.delete_table(TableName=table_name)


@pytest.fixture
def ddb_client(dynamodb_endpoint):
    import boto3

    return boto3.client("dynamodb", endpoint_url=dynamodb_endpoint, region_name="us-east-1")


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    """moto in server mode, for CloudFormation/X-Ray/S3 only (never for DynamoDB tests).
    Its request recorder (``/moto-api/recorder/``, off until started) writes to a temporary
    file, so tests can count the AWS calls a server subprocess makes."""
    import shutil
    import subprocess
    import sys

    from mlflow_dynamodbstore.local.dynamodb_local import free_port, wait_for_port

    port = free_port()
    exe = shutil.which("moto_server", path=os.path.dirname(sys.executable)) or "moto_server"
    recording = tmp_path_factory.mktemp("moto") / "recording.jsonl"
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "MOTO_RECORDER_FILEPATH": str(recording)},
    )
    wait_for_port(port, 60, proc)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=15)


@pytest.fixture(autouse=True)
def _reset_mlflow_fluent_state():
    """MLflow's fluent API keeps the tracking URI, the active experiment (also exported as
    MLFLOW_EXPERIMENT_ID) and active runs in process globals; with several test files per
    xdist worker they would leak from one test's server into the next."""
    yield
    import mlflow
    from mlflow.tracking import fluent

    while mlflow.active_run():
        mlflow.end_run()
    fluent._active_experiment_id = None
    fluent._reset_last_logged_model_id()
    for var in (
        "MLFLOW_EXPERIMENT_ID",
        "MLFLOW_EXPERIMENT_NAME",
        "MLFLOW_TRACKING_URI",
        "MLFLOW_REGISTRY_URI",
        "MLFLOW_RUN_ID",
    ):
        os.environ.pop(var, None)
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


def pytest_collection_modifyitems(config, items):
    # The MLflow version matrix (scripts/test-compat.sh): tests whose SQL reference changed in
    # a later MLflow release skip on older ones, with the reason (tests/compat.py).
    from tests.compat import mark_reference_differences

    mark_reference_differences(items)
    _longest_files_first(items)


def _longest_files_first(items) -> None:
    """Run the files that start external servers (with a test marked ``slow``) first, then
    the others by their number of tests, keeping each file's own order. scripts/test.sh
    hands xdist whole files in this order (``--dist loadfile --no-loadscope-reorder``):
    xdist's own reorder (by test count alone) put the one-test files that each start
    servers, the longest ones, at the end, where one of them could keep a worker busy while
    the other had nothing left to do."""
    from collections import Counter

    def file_of(item) -> str:
        return item.nodeid.split("::")[0]

    per_file = Counter(file_of(item) for item in items)
    # a file with one server-starting test among quick ones is a long file too
    slow_files = {file_of(item) for item in items if item.get_closest_marker("slow")}

    def key(item) -> tuple[int, int]:
        if file_of(item) in slow_files:
            return (0, 0)
        return (1, -per_file[file_of(item)])

    items.sort(key=key)  # stable: ties keep the collection order
