"""`mlflow-dynamodbstore local` (what scripts/serve.sh runs): data survives a restart and
stopping the server stops DynamoDB Local."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from mlflow_dynamodbstore.local.dynamodb_local import free_port

pytestmark = pytest.mark.slow


def _start(data_dir, port, ddb_port):
    cmd = [
        sys.executable, "-m", "mlflow_dynamodbstore.cli.main", "local",
        "--data-dir", str(data_dir), "--port", str(port), "--dynamodb-port", str(ddb_port),
    ]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _call(url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _wait(url, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        try:
            return _call(url)
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(url)


def _stop(proc):
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    return out


def _port_open(port):
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_local_server_keeps_data_across_restarts(tmp_path):
    port, ddb_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}/api/2.0/mlflow"
    proc = _start(tmp_path, port, ddb_port)
    try:
        _wait(f"{base}/experiments/get-by-name?experiment_name=Default", proc)
        created = _call(f"{base}/experiments/create", {"name": "kept"})
    finally:
        out = _stop(proc)
    assert "Stopped MLflow server and DynamoDB Local" in out
    assert not _port_open(ddb_port)
    # A newcomer's first start shows nothing to look up (issue: noisy warnings).
    assert "job execution requirements not met" not in out
    assert "Warning" not in out and "EBADENGINE" not in out
    assert os.path.exists(tmp_path / "dynamodb" / "shared-local-instance.db")

    proc = _start(tmp_path, port, ddb_port)
    try:
        got = _wait(f"{base}/experiments/get-by-name?experiment_name=kept", proc)
    finally:
        _stop(proc)
    assert got["experiment"]["experiment_id"] == created["experiment_id"]
