"""The MLflow UI, served by a real `mlflow server` on this plugin, opened in headless
Chromium (Debian's package; Playwright drives it, no browser download)."""

from __future__ import annotations

import shutil

import pytest

from tests.mlflow_server import mlflow_server

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_experiment_list_loads_in_the_ui(store_uri, tmp_path):
    import mlflow
    from playwright.sync_api import sync_playwright

    with mlflow_server(store_uri, tmp_path) as url:
        mlflow.MlflowClient(tracking_uri=url).create_experiment("shown-in-the-ui")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                page = browser.new_page()
                page.goto(f"{url}/#/experiments", wait_until="domcontentloaded")
                page.get_by_text("shown-in-the-ui").first.wait_for(timeout=60_000)
                page.get_by_text("Default").first.wait_for(timeout=10_000)
                page.screenshot(path=str(tmp_path / "experiments.png"))
            finally:
                browser.close()
