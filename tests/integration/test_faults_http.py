"""Faults under a real `mlflow server`, driven by MLflow's own client and its retries.

- DynamoDB Local (a dedicated one, data on disk) is killed in the middle of a workload and
  restarted: requests in between fail, the server answers 503 (never a 500), MLflow's client
  retries, the workload finishes, everything acknowledged is there and the table's
  invariants hold.
- A server whose DynamoDB client throttles, fails and times out at a steady rate (the test
  hook, through MLFLOW_DYNAMODB_TEST_FAULTS) with few botocore retries, so some errors reach
  the client: the workload finishes all the same.
"""

from __future__ import annotations

import json
import threading
import time

import boto3
import pytest
import requests
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.local.dynamodb_local import DynamoDBLocal
from tests.integration import table_invariants
from tests.mlflow_server import mlflow_server

pytestmark = pytest.mark.slow

# MLflow's client: retry 503s quickly and long enough to outlast a DynamoDB restart.
CLIENT_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "8", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}


def _workload(client: MlflowClient, rounds: int, acknowledged: dict, tick=None) -> None:
    """Runs with params, tags and metrics, model versions; what the server acknowledged is
    recorded in ``acknowledged`` as it comes."""
    exp = client.create_experiment("faulty")
    client.create_registered_model("faulty-model")
    acknowledged.update(exp=exp, runs={}, versions=[])
    for i in range(rounds):
        if tick:
            tick(i)
        run = client.create_run(exp, run_name=f"r{i}").info.run_id
        acknowledged["runs"][run] = {"metrics": 0}
        client.log_batch(
            run,
            metrics=[Metric("m", float(s), 1000 + s, s) for s in range(20)],
            params=[Param("p", str(i))],
            tags=[RunTag("t", str(i))],
        )
        acknowledged["runs"][run] = {"metrics": 20, "p": str(i)}
        client.set_terminated(run)
        version = client.create_model_version("faulty-model", f"s3://b/{i}", run_id=run)
        acknowledged["versions"].append(int(version.version))


def _verify(client: MlflowClient, acknowledged: dict, gateway: TableGateway) -> int:
    verified = 0
    for run_id, expected in acknowledged["runs"].items():
        run = client.get_run(run_id)
        verified += 1
        if expected["metrics"]:
            assert len(client.get_metric_history(run_id, "m")) == expected["metrics"]
            assert run.data.params == {"p": expected["p"]}
            verified += expected["metrics"] + 1
    versions = client.search_model_versions("name='faulty-model'", max_results=1000)
    numbers = sorted(int(v.version) for v in versions)
    assert set(acknowledged["versions"]) <= set(numbers)
    assert len(numbers) == len(set(numbers))
    verified += len(numbers)
    problems, items, _ = table_invariants.check(gateway)
    assert problems == []
    return verified + items


def test_dynamodb_killed_and_restarted_mid_workload(tmp_path, monkeypatch):
    for name, value in CLIENT_RETRIES.items():
        monkeypatch.setenv(name, value)
    ddb = DynamoDBLocal(db_path=tmp_path / "ddb").start()
    uri = f"dynamodb://127.0.0.1:{ddb.port}/killed"
    # few botocore retries: while DynamoDB is down the server answers 503 quickly
    env = {"MLFLOW_DYNAMODB_MAX_ATTEMPTS": "2"}
    downtime = {"killed": 0.0, "back": 0.0}
    try:
        with mlflow_server(uri, tmp_path / "server", env=env) as url:
            client = MlflowClient(url)
            acknowledged: dict = {}

            def kill_at(i: int) -> None:
                if i == 3:  # mid-workload, from another thread so requests are in flight
                    threading.Thread(target=restart).start()

            def restart() -> None:
                time.sleep(0.3)
                ddb.proc.kill()  # SIGKILL: no clean shutdown
                ddb.proc.wait()
                downtime["killed"] = time.monotonic()
                time.sleep(2)
                ddb.start()
                downtime["back"] = time.monotonic()

            started = time.monotonic()
            _workload(client, 8, acknowledged, tick=kill_at)
            assert downtime["back"] > downtime["killed"] > 0
            print(
                f"\nDynamoDB Local down {downtime['back'] - downtime['killed']:.1f} s, "
                f"workload {time.monotonic() - started:.1f} s"
            )
            gateway = TableGateway(
                boto3.client("dynamodb", endpoint_url=ddb.endpoint_url, region_name="us-east-1"),
                "killed",
            )
            assert len(acknowledged["runs"]) == 8
            _verify(client, acknowledged, gateway)
            log = next((tmp_path / "server").glob("mlflow-server-*.log")).read_text()
            assert "Traceback" not in log or "botocore" not in log.split("Traceback", 1)[1][:5000]
    finally:
        ddb.stop()


def test_steady_faults_under_a_server_are_retried_by_the_client(
    store_uri, tmp_path, monkeypatch, dynamodb_local
):
    for name, value in CLIENT_RETRIES.items():
        monkeypatch.setenv(name, value)
    data = ["GetItem", "PutItem", "UpdateItem", "Query", "TransactWriteItems", "BatchWriteItem"]
    faults = [  # on data requests, after the server's start-up (provisioning, seeding)
        {"kind": "internal_error", "count": 2, "every": 7, "operations": data, "skip": 30},
        {"kind": "read_timeout", "count": 2, "every": 11, "operations": data, "skip": 30},
        {"kind": "transaction_conflict", "count": 3, "every": 5, "skip": 5},
        {"kind": "unprocessed", "count": 3, "every": 4},
    ]
    env = {"MLFLOW_DYNAMODB_TEST_FAULTS": json.dumps(faults), "MLFLOW_DYNAMODB_MAX_ATTEMPTS": "1"}
    with mlflow_server(store_uri, tmp_path / "server", env=env) as url:
        client = MlflowClient(url)
        acknowledged: dict = {}
        _workload(client, 4, acknowledged)
        gateway = TableGateway(
            boto3.client(
                "dynamodb", endpoint_url=dynamodb_local.endpoint_url, region_name="us-east-1"
            ),
            store_uri.rsplit("/", 1)[1],
        )
        _verify(client, acknowledged, gateway)
    log = next((tmp_path / "server").glob("mlflow-server-*.log")).read_text()
    assert " 503" in log or "TEMPORARILY_UNAVAILABLE" in log or "503" in log


def test_server_started_before_dynamodb_serves_once_it_is_up(tmp_path):
    """`mlflow server` started against a DynamoDB Local port nothing listens on yet: it
    starts, answers 503 at once (not a hang, not a 500) while DynamoDB is away, and serves
    without a restart once DynamoDB Local is started on that port; the table (absent: the URI
    asks for it to be created) is created and seeded then."""
    from mlflow_dynamodbstore.local.dynamodb_local import free_port

    port = free_port()
    ddb = DynamoDBLocal(port=port)
    uri = f"dynamodb://127.0.0.1:{port}/started-first"
    search = "/api/2.0/mlflow/experiments/search"
    try:
        with mlflow_server(uri, tmp_path / "server") as url:
            answers = []
            for _ in range(3):
                started = time.monotonic()
                r = requests.get(url + search, params={"max_results": 10}, timeout=30)
                answers.append((r.status_code, r.json().get("error_code"),
                                time.monotonic() - started))  # fmt: skip
                assert "Traceback" not in r.text and "botocore" not in r.text
            print(f"\nwhile DynamoDB is down: {answers}")
            assert {(s, c) for s, c, _ in answers} == {(503, "TEMPORARILY_UNAVAILABLE")}
            assert max(t for _, _, t in answers) < 10
            ddb.start()
            deadline = time.monotonic() + 60
            while True:
                r = requests.get(url + search, params={"max_results": 10}, timeout=30)
                if r.status_code == 200 or time.monotonic() > deadline:
                    break
                assert r.status_code == 503, r.text
                time.sleep(0.5)
            assert r.status_code == 200, r.text
            assert [e["name"] for e in r.json()["experiments"]] == ["Default"]
            client = MlflowClient(url)
            exp = client.create_experiment("after-start")
            run = client.create_run(exp).info.run_id
            client.log_metric(run, "m", 1.0)
            assert client.get_run(run).data.metrics == {"m": 1.0}
            gateway = TableGateway(
                boto3.client("dynamodb", endpoint_url=ddb.endpoint_url, region_name="us-east-1"),
                "started-first",
            )
            problems, _, _ = table_invariants.check(gateway)
            assert problems == []
        log = next((tmp_path / "server").glob("mlflow-server-*.log")).read_text()
        assert "is not available" in log and "available again" in log
        assert " 500 " not in log
    finally:
        ddb.stop()
