"""Server-owned trace archival end to end: a real `mlflow server` on the table with MLflow's
``--trace-archival-config`` accepts it (the store supports archival), advertises it in
server-info, and its job runner's periodic scheduler archives old traces; the spans then
come back over HTTP from the archive location."""

from __future__ import annotations

import time

import pytest
import requests
from mlflow import MlflowClient
from mlflow.tracing.constant import SpansLocation, TraceTagKey

from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.differential_traces.builders import simple_trace, tid
from tests.mlflow_server import mlflow_server

pytestmark = pytest.mark.slow

SERVER_ENV = {
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "true",
    "MLFLOW_SERVER_JOB_ENABLE_PERIODIC_TASKS": "true",
}


def test_the_server_archives_old_traces_on_its_schedule(store_uri, tmp_path):
    store = DynamoDBTrackingStore(store_uri, str(tmp_path / "artifacts"))
    exp = store.create_experiment("archival")
    # Spans of 2020 (the builders' base time): far older than the retention.
    for n in (1, 2):
        store.log_spans(exp, simple_trace(n, n * 100, 20, q=f"question {n}"))
    before = {t: [s.to_dict() for s in store.get_trace(t).data.spans] for t in (tid(1), tid(2))}
    archive = tmp_path / "archive"
    config = tmp_path / "archival.yaml"
    config.write_text(
        "trace_archival:\n"
        "  enabled: true\n"
        f"  location: file://{archive}\n"
        "  retention: 1d\n"
        "  interval_seconds: 1\n"
    )
    with mlflow_server(
        store_uri, tmp_path / "server", ["--trace-archival-config", str(config)], env=SERVER_ENV
    ) as url:
        # (a generous timeout: the job runner's consumers start beside the first request)
        info = requests.get(f"{url}/api/3.0/mlflow/server-info", timeout=120).json()
        assert info["trace_archival_enabled"] is True
        # The scheduler polls once a minute (huey's crontab).
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            tags = store.get_trace_info(tid(2)).tags
            if tags.get(TraceTagKey.SPANS_LOCATION) == SpansLocation.ARCHIVE_REPO.value:
                break
            time.sleep(1)  # a poll is one get_trace_info; a 3 s pause cost 1.5 s on average
        client = MlflowClient(url)
        for trace_id, spans in before.items():
            trace = client.get_trace(trace_id)
            assert trace.info.tags[TraceTagKey.SPANS_LOCATION] == SpansLocation.ARCHIVE_REPO.value
            assert trace.info.tags[TraceTagKey.ARCHIVE_LOCATION].startswith(f"file://{archive}")
            assert [s.to_dict() for s in trace.data.spans] == spans
    assert len(list(archive.rglob("traces.pb"))) == 2
