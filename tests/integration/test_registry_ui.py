"""The MLflow UI's model registry pages on this plugin, in headless Chromium (Debian's
package driven by Playwright; no browser download)."""

from __future__ import annotations

import shutil

import pytest

from tests.mlflow_server import mlflow_server

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]


def test_models_list_and_model_page_render(store_uri, tmp_path):
    import mlflow
    from playwright.sync_api import sync_playwright

    with mlflow_server(store_uri, tmp_path) as url:
        client = mlflow.MlflowClient(tracking_uri=url, registry_uri=url)
        client.create_registered_model("ui-visible-model", description="shown in the UI")
        client.create_model_version("ui-visible-model", "s3://bucket/model")
        client.set_registered_model_alias("ui-visible-model", "champion", 1)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                page = browser.new_page()
                page.goto(f"{url}/#/models", wait_until="domcontentloaded")
                page.get_by_text("ui-visible-model").first.wait_for(timeout=60_000)
                page.goto(f"{url}/#/models/ui-visible-model", wait_until="domcontentloaded")
                page.get_by_text("shown in the UI").first.wait_for(timeout=60_000)
                page.get_by_text("champion").first.wait_for(timeout=30_000)
                page.screenshot(path=str(tmp_path / "model.png"))
            finally:
                browser.close()
