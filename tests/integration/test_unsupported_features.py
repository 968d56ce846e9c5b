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
