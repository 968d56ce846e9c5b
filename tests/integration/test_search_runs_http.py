"""search_runs through a real `mlflow server` on this plugin: page tokens survive the REST
round trip and bad input comes back as a 400 with MLflow's error code."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException

from tests.mlflow_server import mlflow_server

pytestmark = pytest.mark.slow


def test_search_runs_over_http(store_uri, tmp_path):
    with mlflow_server(store_uri, tmp_path) as url:
        client = MlflowClient(tracking_uri=url)
        exps = [client.create_experiment(f"http-{i}") for i in range(2)]
        for i in range(7):
            run = client.create_run(exps[i % 2], run_name=f"r{i}", start_time=1000 + i)
            client.log_batch(
                run.info.run_id, [Metric("m", float(i % 3), 0, 0)], [Param("p", str(i))]
            )
        for order_by, expected in [
            (None, [f"r{i}" for i in reversed(range(7))]),
            (["metrics.m DESC"], ["r5", "r2", "r4", "r1", "r6", "r3", "r0"]),
            (["params.p"], [f"r{i}" for i in range(7)]),
        ]:
            names, token = [], None
            while True:
                page = client.search_runs(
                    exps, "", max_results=3, order_by=order_by, page_token=token
                )
                names += [r.info.run_name for r in page]
                token = page.token
                if not token:
                    break
            assert names == expected
        filtered = client.search_runs(exps, "metrics.m >= 1 and params.p != '4'")
        assert sorted(r.info.run_name for r in filtered) == ["r1", "r2", "r5"]
        for bad in (
            {"filter_string": "params.p > '1'"},
            {"order_by": ["metrics.m", "metrics.m"]},
            {"page_token": "bm9wZQ"},
        ):
            with pytest.raises(MlflowException) as info:
                client.search_runs(exps, **bad)
            assert info.value.error_code == "INVALID_PARAMETER_VALUE"
            assert info.value.get_http_status_code() == 400
