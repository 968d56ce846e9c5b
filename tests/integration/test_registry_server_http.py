"""The registry of a real `mlflow server` on this plugin, driven over HTTP by MlflowClient."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest
from mlflow import MlflowClient
from mlflow.entities.webhook import WebhookAction, WebhookEntity, WebhookEvent
from mlflow.exceptions import MlflowException

from tests.mlflow_server import mlflow_server

pytestmark = pytest.mark.slow


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_registry_over_http(store_uri, tmp_path):
    env = {"MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true"}
    with mlflow_server(store_uri, tmp_path, env=env) as url:
        client = MlflowClient(tracking_uri=url, registry_uri=url)
        client.create_registered_model("served", description="over http")
        mv = client.create_model_version("served", "s3://bucket/m", run_id="abc")
        client.set_registered_model_alias("served", "prod", mv.version)
        assert client.get_model_version_by_alias("served", "prod").version == "1"
        assert [m.name for m in client.search_registered_models()] == ["served"]
        assert [v.version for v in client.search_model_versions("run_id = 'abc'")] == ["1"]
        client.rename_registered_model("served", "renamed")
        assert client.get_registered_model("renamed").aliases == {"prod": "1"}

        with pytest.raises(MlflowException) as info:
            client.get_registered_model("nope")
        assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
        query = urllib.parse.urlencode({"filter": "name IS NULL"})
        status, body = _get(f"{url}/api/2.0/mlflow/registered-models/search?{query}")
        assert status == 400 and body["error_code"] == "INVALID_PARAMETER_VALUE"

        event = WebhookEvent(WebhookEntity.MODEL_VERSION, WebhookAction.CREATED)
        hook = client.create_webhook("hook", "https://localhost/h", [event], secret="hidden")
        listed = urllib.request.urlopen(f"{url}/api/2.0/mlflow/webhooks", timeout=30).read()
        assert hook.webhook_id.encode() in listed and b"hidden" not in listed
