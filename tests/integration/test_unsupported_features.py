"""Features not built yet answer 501 NOT_IMPLEMENTED with a clear message, never a 500."""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException
from mlflow.store.tracking.abstract_store import AbstractStore

from mlflow_dynamodbstore.stores.tracking.unsupported import UNSUPPORTED_TRACKING_METHODS
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore


def test_unsupported_methods_raise_not_implemented(store_uri):
    store = DynamoDBTrackingStore(store_uri, "s3://b/a")
    with pytest.raises(MlflowException) as info:
        store.get_mcp_server_versions_for_trace("tr-1")
    assert info.value.error_code == "NOT_IMPLEMENTED"
    assert info.value.get_http_status_code() == 501
    assert "not supported by the DynamoDB tracking store" in info.value.message
    # still a NotImplementedError, which MLflow's fallbacks catch
    assert isinstance(info.value, NotImplementedError)
    # every listed method either is implemented by now or raises the clear error
    for name in UNSUPPORTED_TRACKING_METHODS:
        assert getattr(DynamoDBTrackingStore, name) is not getattr(AbstractStore, name), name


def test_trace_archival_is_declined_openly(store_uri, tmp_path, monkeypatch):
    """Trace archival is not built (docs/trace-analytics.md, "What remains"): the store says so
    through MLflow's own capability flag, so a server configured to archive refuses to start
    instead of silently keeping every span, and a direct call answers 501."""
    from mlflow.server.handlers import _verify_tracking_store_trace_archival_support

    store = DynamoDBTrackingStore(store_uri, str(tmp_path / "artifacts"))
    assert store.supports_trace_archival is False
    with pytest.raises(MlflowException) as info:
        store.archive_traces(resolved_trace_archival_location="file:///x", broader_retention="30d")
    assert info.value.error_code == "NOT_IMPLEMENTED"

    config = tmp_path / "archival.yaml"
    config.write_text(
        "trace_archival:\n"
        "  enabled: true\n"
        f"  location: file://{tmp_path / 'archive'}\n"
        "  retention: 30d\n"
    )
    monkeypatch.setenv("MLFLOW_TRACE_ARCHIVAL_CONFIG", str(config))
    with pytest.raises(MlflowException) as info:
        _verify_tracking_store_trace_archival_support(store)
    assert info.value.error_code == "INVALID_STATE"
    assert "does not support server-owned trace archival" in info.value.message
