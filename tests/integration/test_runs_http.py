"""Runs through a real `mlflow server` with this plugin, driven by MlflowClient over HTTP."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request

import pytest
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from tests.mlflow_server import mlflow_server

pytestmark = pytest.mark.slow


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


def _post(url: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_run_lifecycle_over_http(store_uri, tmp_path):
    with mlflow_server(store_uri, tmp_path) as url:
        client = MlflowClient(tracking_uri=url)
        exp = client.create_experiment("http-runs")
        run = client.create_run(exp, run_name="over-http", tags={"team": "a"})
        rid = run.info.run_id
        client.log_batch(
            rid,
            metrics=[Metric("loss", v, 1000 + i, i) for i, v in enumerate([3.0, 2.0, math.nan])],
            params=[Param("lr", "0.01"), Param("long", "x" * 6000)],
            tags=[RunTag("big", "y" * 8000)],
        )
        client.log_metric(rid, "acc", math.inf, timestamp=5, step=9)
        client.log_inputs(
            rid,
            [
                DatasetInput(
                    Dataset("train", "abc", "local", '{"uri": "/d"}', None, None),
                    [InputTag("mlflow.data.context", "training")],
                )
            ],
        )
        client.set_terminated(rid, "FINISHED", end_time=123456)

        got = client.get_run(rid)
        assert got.info.run_name == "over-http" and got.info.status == "FINISHED"
        assert got.info.end_time == 123456
        assert got.data.params == {"lr": "0.01", "long": "x" * 6000}
        assert got.data.tags["big"] == "y" * 8000 and got.data.tags["team"] == "a"
        assert math.isnan(got.data.metrics["loss"]) and got.data.metrics["acc"] == math.inf
        assert [i.dataset.name for i in got.inputs.dataset_inputs] == ["train"]
        history = client.get_metric_history(rid, "loss")
        assert [m.value for m in history][:2] == [3.0, 2.0] and math.isnan(history[2].value)

        # What the UI's charts call.
        sampled = _get(
            f"{url}/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval"
            f"?run_ids={rid}&metric_key=loss&max_results=2"
        )
        assert [m["step"] for m in sampled["metrics"]] == [0, 2]
        bulk = _get(
            f"{url}/ajax-api/2.0/mlflow/metrics/get-history-bulk?run_id={rid}&metric_key=loss"
        )
        assert [m["value"] for m in bulk["metrics"]][:2] == [3.0, 2.0]
        status, datasets = _post(
            f"{url}/ajax-api/2.0/mlflow/experiments/search-datasets", {"experiment_ids": [exp]}
        )
        assert status == 200
        assert datasets["dataset_summaries"] == [
            {"experiment_id": exp, "name": "train", "digest": "abc", "context": "training"}
        ]

        with pytest.raises(MlflowException) as info:
            client.log_param(rid, "lr", "0.02")
        assert info.value.error_code == "INVALID_PARAMETER_VALUE"
        with pytest.raises(MlflowException) as info:
            client.get_run("0" * 32)
        assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
        # MlflowClient splits big batches itself; the REST API must refuse one.
        status, body = _post(
            f"{url}/api/2.0/mlflow/runs/log-batch",
            {"run_id": rid, "params": [{"key": f"p{i}", "value": "v"} for i in range(101)]},
        )
        assert status == 400 and body["error_code"] == "INVALID_PARAMETER_VALUE"

        client.delete_tag(rid, "team")
        client.delete_run(rid)
        assert client.get_run(rid).info.lifecycle_stage == "deleted"
        client.restore_run(rid)
        assert client.get_run(rid).info.lifecycle_stage == "active"
        assert "team" not in client.get_run(rid).data.tags
