"""The experiment Overview page and the Traces tab in headless Chromium: every call to the
trace metrics endpoint succeeds (it answered 501 before trace analytics)."""

from __future__ import annotations

import shutil

import mlflow
import pytest

from tests.mlflow_server import mlflow_server

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]


@mlflow.trace(name="answer")
def answer(question: str) -> str:
    return question.upper()


def test_overview_and_traces_pages_get_their_metrics(store_uri, tmp_path):
    from playwright.sync_api import sync_playwright

    with mlflow_server(store_uri, tmp_path) as url:
        previous = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(url)
        try:
            experiment_id = mlflow.set_experiment("ui-overview").experiment_id
            for q in ("a", "bb", "ccc"):
                answer(q)
            mlflow.flush_trace_async_logging()
        finally:
            mlflow.set_tracking_uri(previous)
        metric_calls: list[tuple[int, str]] = []
        seen: dict[str, int] = {}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                page = browser.new_page()
                page.on(
                    "response",
                    lambda r: (
                        metric_calls.append((r.status, r.url))
                        if "/traces/metrics" in r.url
                        else None
                    ),
                )
                for tab in ("overview/usage", "overview/quality", "overview/tool-calls", "traces"):
                    before = len(metric_calls)
                    page.goto(f"{url}/#/experiments/{experiment_id}/{tab}")
                    # The charts ask for their metrics as they mount; give them time.
                    for _ in range(60):
                        if len(metric_calls) > before:
                            break
                        page.wait_for_timeout(1000)
                    page.wait_for_timeout(5000)  # the rest of the page's calls
                    page.screenshot(path=str(tmp_path / f"{tab.replace('/', '-')}.png"))
                    seen[tab] = len(metric_calls) - before
            finally:
                browser.close()
    assert seen["overview/usage"] >= 4 and seen["traces"] >= 1, (seen, metric_calls)
    assert all(status == 200 for status, _ in metric_calls), metric_calls
