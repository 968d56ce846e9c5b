"""X-Ray end to end through a real `mlflow server`: segments shaped like the ADOT
collector's output are in moto's X-Ray, the trace is recorded in MLflow without spans over
REST, and the MLflow client (and the UI's trace-data route) get the full span tree.

X-Ray calls made by the server subprocess are counted with moto's request recorder."""

from __future__ import annotations

import json
import urllib.request
import uuid

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import TraceInfo, TraceLocation, TraceState

from tests.integration.test_xray_store import _assert_same_spans, _fresh_hex, _put_segments
from tests.mlflow_server import mlflow_server
from tests.xray_segments import llm_trace, nested_documents, separate_documents

pytestmark = pytest.mark.slow


class MotoRecorder:
    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    def _call(self, action: str) -> str:
        method = "GET" if action == "download-recording" else "POST"
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/recorder/{action}", method=method
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read().decode()

    def restart(self) -> None:
        self._call("reset-recording")
        self._call("start-recording")

    def xray_calls(self, path: str) -> int:
        """Recorded requests to one X-Ray REST path (/Traces is BatchGetTraces,
        /TraceSummaries is GetTraceSummaries)."""
        rows = [json.loads(line) for line in self._call("download-recording").splitlines()]
        return sum(1 for r in rows if r["url"].split("?")[0].endswith(path))


@pytest.fixture
def server(store_uri, tmp_path, moto_server):
    env = {"AWS_ENDPOINT_URL_XRAY": moto_server}
    with mlflow_server(f"{store_uri}?xray=true", tmp_path, env=env) as url:
        mlflow.set_tracking_uri(url)
        yield url


def _record_without_spans(experiment_id: str, otel: str, base_ns: int) -> str:
    """What a dual-exporting app leaves in MLflow: the trace's info, no spans."""
    trace_id = f"tr-{otel}"
    MlflowClient()._tracing_client.store.start_trace(
        TraceInfo(
            trace_id=trace_id,
            trace_location=TraceLocation.from_experiment_id(experiment_id),
            request_time=base_ns // 1_000_000,
            execution_duration=900,
            state=TraceState.OK,
            trace_metadata={},
            tags={"mlflow.traceName": "agent"},
        )
    )
    return trace_id


def test_spans_come_from_x_ray_once_and_search_finds_them(server, moto_server):
    experiment_id = mlflow.set_experiment(f"xray-{uuid.uuid4().hex[:6]}").experiment_id
    recorder = MotoRecorder(moto_server)
    traces = {}
    for name, layout in (("read", separate_documents), ("search", nested_documents),
                         ("ui", separate_documents)):  # fmt: skip
        otel = _fresh_hex()
        base = int(otel[:8], 16) * 1_000_000_000 + 250_000_000
        specs = llm_trace(base)
        _put_segments(moto_server, layout(otel, specs))
        traces[name] = (_record_without_spans(experiment_id, otel, base), specs)

    recorder.restart()
    trace_id, specs = traces["read"]
    first = mlflow.get_trace(trace_id)
    _assert_same_spans(first, specs)
    assert recorder.xray_calls("/Traces") == 1
    second = mlflow.get_trace(trace_id)
    _assert_same_spans(second, specs)
    assert recorder.xray_calls("/Traces") == 1  # zero X-Ray calls on the second read
    assert first.info.token_usage["total_tokens"] == 15

    # A span-type and a span-name filter before caching (the "search" trace is only in
    # X-Ray; moto refuses filter expressions, so the fallback looks traces up one by one)
    # and after (facts on META).
    flt = "span.type = 'RETRIEVER' AND span.name = 'retrieve'"
    found = mlflow.search_traces(locations=[experiment_id], filter_string=flt, return_type="list")
    assert {t.info.trace_id for t in found} == {t for t, _ in traces.values()}
    recorder.restart()
    found = mlflow.search_traces(locations=[experiment_id], filter_string=flt, return_type="list")
    assert {t.info.trace_id for t in found} == {t for t, _ in traces.values()}
    assert recorder.xray_calls("/Traces") == 0 and recorder.xray_calls("/TraceSummaries") == 0
    none = mlflow.search_traces(
        locations=[experiment_id], filter_string="span.type = 'PARSER'", return_type="list"
    )
    assert none == []
    _assert_same_spans(mlflow.get_trace(traces["search"][0]), traces["search"][1])


def test_ui_trace_view_reads_x_ray_spans(server, moto_server):
    experiment_id = mlflow.set_experiment(f"xray-ui-{uuid.uuid4().hex[:6]}").experiment_id
    otel = _fresh_hex()
    base = int(otel[:8], 16) * 1_000_000_000
    specs = llm_trace(base)
    _put_segments(moto_server, separate_documents(otel, specs))
    trace_id = _record_without_spans(experiment_id, otel, base)
    url = f"{server}/ajax-api/2.0/mlflow/get-trace-artifact?request_id={trace_id}"
    with urllib.request.urlopen(url, timeout=30) as response:
        data = json.loads(response.read())
    assert sorted(s["name"] for s in data["spans"]) == sorted(s.name for s in specs)


def test_trace_missing_in_x_ray_is_returned_with_the_marker(server):
    experiment_id = mlflow.set_experiment(f"xray-miss-{uuid.uuid4().hex[:6]}").experiment_id
    otel = _fresh_hex()
    trace_id = _record_without_spans(experiment_id, otel, int(otel[:8], 16) * 1_000_000_000)
    trace = mlflow.get_trace(trace_id)
    assert trace.data.spans == []
    assert trace.info.tags["mlflow.dynamodb.xray.spans"] == "unavailable"
