"""The AI gateway pages' REST calls through a real ``mlflow server`` on this store: create a
secret, a model definition and an endpoint as the UI does, read them back, and check that no
response body of the session, nor the server's log, ever contains the secret value."""

from __future__ import annotations

import pytest
import requests

from tests.mlflow_server import mlflow_server

pytestmark = pytest.mark.slow

SECRET = "sk-http-SECRETVALUE-0123456789abcdef"
KEK = {"MLFLOW_CRYPTO_KEK_PASSPHRASE": "test-only-passphrase-for-the-http-session"}


def test_gateway_setup_over_the_ui_routes(store_uri, tmp_path):
    bodies: list[str] = []

    def call(url, method, route, body=None, status=200):
        full = f"{url}/ajax-api/3.0/mlflow/gateway/{route}"
        if method == "GET":
            response = requests.get(full, params=body, timeout=30)
        else:
            response = requests.request(method, full, json=body, timeout=30)
        bodies.append(response.text)
        assert response.status_code == status, response.text
        return response.json()

    with mlflow_server(store_uri, tmp_path / "srv", env=KEK) as url:
        secret = call(
            url,
            "POST",
            "secrets/create",
            {"secret_name": "openai", "secret_value": {"api_key": SECRET}, "provider": "openai"},
        )["secret"]
        assert secret["secret_name"] == "openai"
        assert "api_key" in secret["masked_values"]
        call(
            url,
            "POST",
            "secrets/create",
            {"secret_name": "openai", "secret_value": {"api_key": SECRET}},
            status=400,
        )
        definition = call(
            url,
            "POST",
            "model-definitions/create",
            {
                "name": "gpt",
                "secret_id": secret["secret_id"],
                "provider": "openai",
                "model_name": "gpt-4o-mini",
            },
        )["model_definition"]
        endpoint = call(
            url,
            "POST",
            "endpoints/create",
            {
                "name": "chat",
                "model_configs": [
                    {
                        "model_definition_id": definition["model_definition_id"],
                        "linkage_type": "PRIMARY",
                        "weight": 1.0,
                    }
                ],
            },
        )["endpoint"]
        assert endpoint["model_mappings"][0]["model_definition"]["secret_name"] == "openai"
        call(
            url,
            "POST",
            "endpoints/set-tag",
            {"endpoint_id": endpoint["endpoint_id"], "key": "team", "value": "ml"},
        )
        listed = call(url, "GET", "endpoints/list")["endpoints"]
        assert [e["name"] for e in listed] == ["chat"]
        assert listed[0]["tags"] == [{"key": "team", "value": "ml"}]
        assert call(url, "GET", "secrets/list")["secrets"][0]["secret_id"] == secret["secret_id"]
        call(url, "GET", "secrets/get", {"secret_id": secret["secret_id"]})
        call(url, "GET", "model-definitions/list")
        got = call(url, "GET", "endpoints/get", {"endpoint_id": endpoint["endpoint_id"]})
        assert got["endpoint"]["name"] == "chat"
        call(
            url,
            "POST",
            "secrets/update",
            {"secret_id": secret["secret_id"], "secret_value": {"api_key": SECRET + "-rotated"}},
        )
        # in use by an endpoint: refused, as on SQL (MLflow answers INVALID_STATE with 500)
        refused = call(
            url,
            "DELETE",
            "model-definitions/delete",
            {"model_definition_id": definition["model_definition_id"]},
            status=500,
        )
        assert refused["error_code"] == "INVALID_STATE"
        call(url, "DELETE", "endpoints/delete", {"endpoint_id": endpoint["endpoint_id"]})
        call(
            url,
            "DELETE",
            "model-definitions/delete",
            {"model_definition_id": definition["model_definition_id"]},
        )
        call(url, "DELETE", "secrets/delete", {"secret_id": secret["secret_id"]})
        assert call(url, "GET", "secrets/list").get("secrets", []) == []
    assert len(bodies) > 10
    for body in bodies:
        assert "SECRETVALUE" not in body
    # nor the server's log of the session
    logs = list((tmp_path / "srv").glob("*.log"))
    assert logs
    for log in logs:
        assert "SECRETVALUE" not in log.read_text(errors="replace")
