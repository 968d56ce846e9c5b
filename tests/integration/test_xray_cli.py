"""``mlflow-dynamodbstore traces cache``: pre-caching X-Ray spans (moto's X-Ray server)."""

from __future__ import annotations

import json
import time

from click.testing import CliRunner

from mlflow_dynamodbstore.cli.main import cli
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.integration.test_xray_store import _fresh_hex, _new_trace, _put_segments
from tests.xray_segments import llm_trace, separate_documents


def test_cache_command_counts_each_outcome_and_reruns_safely(store_uri, moto_server, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_XRAY", moto_server)
    store = DynamoDBTrackingStore(f"{store_uri}?xray=true")
    exp = store.create_experiment("cache")
    ids = {}
    for name in ("in_xray", "cached", "missing"):
        otel = _fresh_hex()
        base = int(otel[:8], 16) * 1_000_000_000
        if name != "missing":
            _put_segments(moto_server, separate_documents(otel, llm_trace(base)))
        ids[name] = _new_trace(store, exp, otel, base)
    store.get_trace(ids["cached"])  # cached by a read
    old = _fresh_hex(time.time() - 3 * 86400)
    _new_trace(store, exp, old, int(old[:8], 16) * 1_000_000_000)  # outside --days 1

    runner = CliRunner()
    args = ["traces", "cache", store_uri, "--experiment-id", exp, "--days", "1", "--json"]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert summary == {
        "traces": 3, "cached": 1, "already_cached": 1, "missing": 1, "error": 0
    }  # fmt: skip
    assert store.spans.read(ids["in_xray"])

    again = runner.invoke(cli, args)
    summary = json.loads(again.stdout.strip().splitlines()[-1])
    assert summary == {
        "traces": 3, "cached": 0, "already_cached": 2, "missing": 1, "error": 0
    }  # fmt: skip

    text = runner.invoke(cli, args[:-1])
    assert "0 cached, 2 already cached, 1 missing in X-Ray, 0 errors" in text.output

    refused = runner.invoke(cli, ["traces", "cache", f"{store_uri}?xray=false",
                                  "--experiment-id", exp])  # fmt: skip
    assert refused.exit_code != 0 and "xray=false" in refused.output
