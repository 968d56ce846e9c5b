"""The MLflow UI's GenAI pages of an experiment on this plugin, in headless Chromium: an
experiment with a trace, an evaluation dataset and an evaluation run; every page loads with
no failed API call in the browser's network log and no traceback in the
server log (Debian's chromium driven by Playwright; no browser download)."""

from __future__ import annotations

import mlflow
import pytest
from mlflow.genai import datasets as genai_datasets
from mlflow.genai.scorers import scorer

from tests.integration.ui_pages import CHROMIUM, FLAGS, visit
from tests.mlflow_server import mlflow_server

pytestmark = pytest.mark.slow

# The experiment tabs of MLflow 3.17's GenAI experience (routes of the UI's router).
GENAI_PAGES = (
    "overview/usage",
    "overview/quality",
    "overview/tool-calls",
    "traces",
    "chat-sessions",
    "datasets",
    "evaluation-runs",
    "judges",
    "review-queue",
    "prompts",
)
# The UI asks who is signed in; without an auth app MLflow has no such route (404 on a
# SQLite-backed server too), and the UI then carries on anonymously.
NO_AUTH_APP = ("/mlflow/users/current",)


@scorer
def answer_length(outputs) -> int:
    return len(outputs)


@mlflow.trace(name="answer_question")
def answer(question: str) -> str:
    return question.upper()


def _populate(url: str) -> str:
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(url)
    try:
        experiment_id = mlflow.set_experiment("genai-ui").experiment_id
        answer("what is mlflow?")
        dataset = genai_datasets.create_dataset(name="ui-questions", experiment_id=experiment_id)
        dataset.merge_records([{"inputs": {"question": "what is mlflow?"}}])
        mlflow.genai.evaluate(data=dataset, predict_fn=answer, scorers=[answer_length])
        mlflow.flush_trace_async_logging()
        return experiment_id
    finally:
        mlflow.set_tracking_uri(previous)


def test_genai_pages_load_without_failed_api_calls(store_uri, tmp_path):
    from playwright.sync_api import sync_playwright

    with mlflow_server(store_uri, tmp_path) as url:
        experiment_id = _populate(url)
        failures: dict[str, list[str]] = {}
        metric_calls: dict[str, int] = {}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                page = browser.new_page()
                for tab in GENAI_PAGES:
                    got = visit(page, url, f"experiments/{experiment_id}/{tab}", NO_AUTH_APP)
                    metric_calls[tab] = got.count("/traces/metrics")
                    page.screenshot(path=str(tmp_path / f"{tab.replace('/', '-')}.png"))
                    if got.failures:
                        failures[tab] = got.failures
            finally:
                browser.close()
    server_log = "".join(p.read_text() for p in tmp_path.glob("mlflow-server-*.log"))
    listing = "\n".join(f"{tab}: {call}" for tab, calls in failures.items() for call in calls)
    assert failures == {}, f"failed API calls:\n{listing}"
    # The charts did ask (the Traces tab's counts answered 501 before trace analytics).
    assert metric_calls["overview/usage"] >= 4 and metric_calls["traces"] >= 1, metric_calls
    assert "Traceback" not in server_log
