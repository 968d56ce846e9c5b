"""A real `mlflow server` with this plugin answers over HTTP."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.mlflow_server import mlflow_server

pytestmark = pytest.mark.slow


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


def test_server_serves_default_experiment_and_experiment_list(store_uri, tmp_path):
    with mlflow_server(store_uri, tmp_path) as url:
        got = _get(f"{url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default")
        assert got["experiment"]["experiment_id"] == "0"
        # What the UI's experiment list calls.
        listed = _get(f"{url}/ajax-api/2.0/mlflow/experiments/search?max_results=25")
        assert [e["name"] for e in listed["experiments"]] == ["Default"]
        with urllib.request.urlopen(f"{url}/", timeout=30) as resp:
            assert resp.status == 200
