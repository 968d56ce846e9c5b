"""The MLflow UI's AI gateway pages and the overview charts of an endpoint's usage-tracking
experiment, on this store, in headless Chromium (Debian's chromium driven by Playwright; no
browser download): endpoints are set up and invoked against a local fake of OpenAI's API,
then every page loads with no failed API call, the server logs no traceback, and the secret
(created over REST during the browser session too) is in no response body of the session."""

from __future__ import annotations

import contextlib
import time

import pytest
import requests
from mlflow.entities import GatewayEndpointModelConfig
from mlflow.entities.gateway_endpoint import GatewayModelLinkageType
from mlflow.tracking._tracking_service.utils import _get_store

from tests.fake_openai import fake_openai
from tests.integration.test_ai_gateway_invoke_http import SERVER_ENV
from tests.integration.ui_pages import CHROMIUM, FLAGS, visit
from tests.mlflow_server import mlflow_server

pytestmark = pytest.mark.slow

SECRET = "sk-ui-SECRETVALUE-0123456789abcdef"
LATER_SECRET = "sk-ui-LATERSECRET-0123456789abcdef"
# Without an auth app MLflow has no user routes ("who am I", the usage page's user filter):
# 404 on a SQLite-backed server too, and the UI carries on anonymously.
NO_AUTH_APP = ("/mlflow/users/current", "/mlflow/users/list")


def _setup(url: str, upstream: str) -> tuple[str, str]:
    rest = _get_store(url)
    secret = rest.create_gateway_secret(
        "openai-key", {"api_key": SECRET}, provider="openai", auth_config={"api_base": upstream}
    )
    definition = rest.create_gateway_model_definition(
        "gpt", secret.secret_id, "openai", "gpt-4o-mini"
    )
    endpoint = rest.create_gateway_endpoint(
        "chat",
        [
            GatewayEndpointModelConfig(
                model_definition_id=definition.model_definition_id,
                linkage_type=GatewayModelLinkageType.PRIMARY,
                weight=1.0,
            )
        ],
    )
    for _ in range(3):
        response = requests.post(
            f"{url}/gateway/chat/mlflow/invocations",
            json={"messages": [{"role": "user", "content": "hi"}]},
            timeout=60,
        )
        assert response.status_code == 200, response.text
    experiment_id = rest.get_experiment_by_name("gateway/chat").experiment_id
    # (the REST store's search_traces answers (traces, next page token): counting that pair
    # waited the whole minute every time)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(rest.search_traces(locations=[experiment_id])[0]) < 3:
        time.sleep(1)
    return endpoint.endpoint_id, experiment_id


def test_gateway_pages_and_overview_load_without_failed_calls(store_uri, tmp_path):
    from playwright.sync_api import sync_playwright

    failures: dict[str, list[str]] = {}
    responses: list = []
    bodies: list[str] = []
    with fake_openai() as (upstream, _), mlflow_server(store_uri, tmp_path, env=SERVER_ENV) as url:
        endpoint_id, experiment_id = _setup(url, upstream)
        pages = [
            "gateway",
            f"gateway/endpoints/{endpoint_id}",
            "gateway/api-keys",
            "gateway/usage",
            "gateway/budgets",
            f"experiments/{experiment_id}/overview/usage",
            f"experiments/{experiment_id}/traces",
        ]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                page = browser.new_page()
                for path in pages:
                    if path == "gateway/api-keys":  # a key added while the browser is open
                        created = requests.post(
                            f"{url}/ajax-api/3.0/mlflow/gateway/secrets/create",
                            json={
                                "secret_name": "later",
                                "secret_value": {"api_key": LATER_SECRET},
                            },
                            timeout=30,
                        )
                        assert created.status_code == 200
                        bodies.append(created.text)
                    got = visit(page, url, path, NO_AUTH_APP)
                    responses.extend(got.responses)
                    if got.failures:
                        failures[path] = got.failures
                    page.screenshot(path=str(tmp_path / f"{path.replace('/', '-')}.png"))
                for response in responses:
                    # a body the browser did not keep (a redirect) has nothing to check
                    with contextlib.suppress(Exception):
                        bodies.append(response.text())
            finally:
                browser.close()
    log = "".join(p.read_text(errors="replace") for p in tmp_path.glob("mlflow-server-*.log"))
    listing = "\n".join(f"{path}: {call}" for path, calls in failures.items() for call in calls)
    assert failures == {}, f"failed API calls:\n{listing}"
    urls = [r.url for r in responses]
    # the pages did read what they show: endpoints, secrets, definitions, trace metrics
    for route in ("gateway/endpoints/", "gateway/secrets/list", "traces/metrics"):
        assert any(route in u for u in urls), (route, sorted(set(urls)))
    assert len(bodies) > 20
    for text in [*bodies, log]:
        assert "SECRETVALUE" not in text and "LATERSECRET" not in text
    assert "Traceback" not in log
