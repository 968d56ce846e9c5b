"""The MLflow UI's Traces tab on this plugin: a traced call shows up in the experiment's
trace list and its span tree opens (headless Debian Chromium driven by Playwright)."""

from __future__ import annotations

import shutil

import mlflow
import pytest

from tests.mlflow_server import mlflow_server

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]


@mlflow.trace(name="lookup_inventory")
def lookup(item: str) -> int:
    return count_stock(item) + 1


@mlflow.trace(name="count_stock_span")
def count_stock(item: str) -> int:
    return len(item)


def test_traces_tab_lists_the_trace_and_opens_its_spans(store_uri, tmp_path):
    from playwright.sync_api import sync_playwright

    with mlflow_server(store_uri, tmp_path) as url:
        previous = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(url)
        try:
            experiment_id = mlflow.set_experiment("ui-traces").experiment_id
            assert lookup("widgets") == 8
            mlflow.flush_trace_async_logging()
        finally:
            mlflow.set_tracking_uri(previous)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                page = browser.new_page()
                page.goto(f"{url}/#/experiments/{experiment_id}/traces")
                # The list shows each trace's request preview (its root span's inputs).
                row = page.get_by_text('{"item": "widgets"}').first
                row.wait_for(timeout=90_000)
                page.screenshot(path=str(tmp_path / "traces.png"))
                # A first-visit tip ("Detect Issues in Your Traces") covers the page.
                got_it = page.get_by_role("button", name="Got it")
                if got_it.count():
                    got_it.first.click()
                row.click()
                page.get_by_text("count_stock_span").first.wait_for(timeout=60_000)
                page.screenshot(path=str(tmp_path / "trace.png"))
            finally:
                browser.close()
