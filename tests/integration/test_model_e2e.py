"""End to end over HTTP: a real `mlflow server` on this plugin (tracking and registry on the
same DynamoDB table) serves MLflow 3's model workflow: log a scikit-learn model (a logged
model plus a registered version), find it, alias it, load it back by alias and predict."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pytest
import requests
from mlflow import MlflowClient
from mlflow.entities import LoggedModelStatus
from sklearn.linear_model import LogisticRegression

from tests.mlflow_server import mlflow_server

pytestmark = pytest.mark.slow


def _train() -> tuple[LogisticRegression, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    return LogisticRegression().fit(x, y), x


def _ui_models_tab(url: str, experiment_id: str, model_id: str) -> None:
    """The requests the UI's Models tab makes (body as the UI's JS bundle builds it)."""
    body = {
        "experiment_ids": [experiment_id],
        "order_by": [{"field_name": "creation_time", "ascending": False}],
    }
    search = requests.post(f"{url}/ajax-api/2.0/mlflow/logged-models/search", json=body)
    assert search.status_code == 200
    models = search.json()["models"]
    assert [m["info"]["model_id"] for m in models] == [model_id]
    assert models[0]["data"]["metrics"][0]["key"] == "accuracy"
    got = requests.get(f"{url}/ajax-api/2.0/mlflow/logged-models/{model_id}")
    assert got.json()["model"]["info"]["status"] == "LOGGED_MODEL_READY"
    files = requests.get(
        f"{url}/ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/directories"
    )
    assert "MLmodel" in {f["path"] for f in files.json()["files"]}
    bad = requests.post(
        f"{url}/ajax-api/2.0/mlflow/logged-models/search", json={**body, "filter": "foo = 'x'"}
    )
    assert bad.status_code == 400
    assert bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    missing = requests.get(f"{url}/ajax-api/2.0/mlflow/logged-models/m-missing")
    assert (missing.status_code, missing.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_log_register_alias_load(store_uri, tmp_path):
    model, x = _train()
    with mlflow_server(store_uri, tmp_path) as url:
        mlflow.set_tracking_uri(url)
        mlflow.set_registry_uri(url)
        try:
            mlflow.set_experiment("e2e")
            with mlflow.start_run() as run:
                mlflow.log_param("C", 1.0)
                info = mlflow.sklearn.log_model(
                    model, name="model", registered_model_name="m", input_example=x[:2]
                )
                mlflow.log_metric("accuracy", model.score(x, x[:, 0] > 0), model_id=info.model_id)
            client = MlflowClient()

            # the logged model: finalized, linked to its run, found by search
            logged = mlflow.get_logged_model(info.model_id)
            assert (logged.name, logged.status) == ("model", LoggedModelStatus.READY)
            assert logged.source_run_id == run.info.run_id
            assert [m.key for m in logged.metrics] == ["accuracy"]
            # set on the logged model by the client and by the server when version 1 of "m"
            # is registered from it (MLflow writes both: once with an int, once with a str)
            versions = json.loads(logged.tags["mlflow.modelVersions"])
            assert {(v["name"], str(v["version"])) for v in versions} == {("m", "1")}
            found = mlflow.search_logged_models(
                filter_string=f"source_run_id = '{run.info.run_id}'", output_format="list"
            )
            assert [m.model_id for m in found] == [info.model_id]
            outputs = client.get_run(run.info.run_id).outputs.model_outputs
            assert [o.model_id for o in outputs] == [info.model_id]

            # the registry: version 1 of "m" from that model, alias, load by alias
            version = client.get_model_version("m", "1")
            # (the SQL registry stores no model_id on versions either: the source names it)
            assert version.source == f"models:/{info.model_id}"
            assert version.run_id == run.info.run_id
            client.set_registered_model_alias("m", "champion", "1")
            assert client.get_model_version_by_alias("m", "champion").version == "1"
            loaded = mlflow.pyfunc.load_model("models:/m@champion")
            np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
            # and by logged model id, as the UI's Models tab links it
            by_id = mlflow.sklearn.load_model(f"models:/{info.model_id}")
            np.testing.assert_array_equal(by_id.predict(x), model.predict(x))
            _ui_models_tab(url, run.info.experiment_id, info.model_id)
        finally:
            mlflow.set_tracking_uri(None)
            mlflow.set_registry_uri(None)


def test_models_tab_in_the_ui(store_uri, tmp_path):
    """The experiment's Models tab and the logged model's page render in headless Chromium
    (Debian's package, driven by Playwright; no browser download)."""
    from playwright.sync_api import sync_playwright

    from tests.integration.test_ui import CHROMIUM, FLAGS

    model, _ = _train()
    with mlflow_server(store_uri, tmp_path) as url:
        mlflow.set_tracking_uri(url)
        try:
            experiment_id = mlflow.set_experiment("ui-models").experiment_id
            with mlflow.start_run():
                info = mlflow.sklearn.log_model(model, name="tab-model")
                mlflow.log_metric("tab_accuracy", 0.75, model_id=info.model_id)
        finally:
            mlflow.set_tracking_uri(None)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                page = browser.new_page()
                page.goto(
                    f"{url}/#/experiments/{experiment_id}/models", wait_until="domcontentloaded"
                )
                page.get_by_text("tab-model").first.wait_for(timeout=60_000)
                page.screenshot(path=str(tmp_path / "models-tab.png"))
                page.goto(
                    f"{url}/#/experiments/{experiment_id}/models/{info.model_id}",
                    wait_until="domcontentloaded",
                )
                page.get_by_text("tab_accuracy").first.wait_for(timeout=60_000)
                page.get_by_text(info.model_id).first.wait_for(timeout=10_000)
                page.screenshot(path=str(tmp_path / "model-page.png"))
            finally:
                browser.close()
