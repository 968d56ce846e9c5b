"""Registry store integration tests on DynamoDB Local: resolution through MLflow, error codes,
workspace isolation, the DynamoDB requests each call makes, and the limits of the layout."""

from __future__ import annotations

import pytest
from mlflow.entities.model_registry import ModelVersionTag, RegisteredModelTag
from mlflow.exceptions import MlflowException
from mlflow.utils.workspace_context import WorkspaceContext

from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.stores.registry_store import DynamoDBRegistryStore


@pytest.fixture
def store(store_uri) -> DynamoDBRegistryStore:
    return DynamoDBRegistryStore(store_uri)


def _code(fn, *args, **kwargs) -> str:
    with pytest.raises(MlflowException) as info:
        fn(*args, **kwargs)
    return info.value.error_code


def _requests(store) -> dict[str, int]:
    return {op: s.requests for op, s in store.gateway.stats.snapshot().items()}


def test_mlflow_resolves_dynamodb_registry_uri(store_uri):
    from mlflow.tracking import MlflowClient
    from mlflow.tracking._model_registry.utils import _get_store

    assert isinstance(_get_store(store_uri), DynamoDBRegistryStore)
    client = MlflowClient(tracking_uri=store_uri, registry_uri=store_uri)
    client.create_registered_model("via-client", description="d")
    assert client.get_registered_model("via-client").description == "d"
    mv = client.create_model_version("via-client", "s3://bucket/model", run_id=None)
    assert mv.version == 1
    assert client.get_model_version_download_uri("via-client", "1") == "s3://bucket/model"


def test_model_crud_and_error_codes(store):
    rm = store.create_registered_model("m", tags=[RegisteredModelTag("k", "v")], description="d")
    assert (rm.name, rm.description, rm.tags) == ("m", "d", {"k": "v"})
    assert rm.creation_timestamp == rm.last_updated_timestamp
    assert _code(store.create_registered_model, "m") == "RESOURCE_ALREADY_EXISTS"
    assert _code(store.create_registered_model, "a/b") == "INVALID_PARAMETER_VALUE"
    assert _code(store.get_registered_model, "nope") == "RESOURCE_DOES_NOT_EXIST"
    assert _code(store.rename_registered_model, "m", "") == "INVALID_PARAMETER_VALUE"
    store.create_registered_model("other")
    assert _code(store.rename_registered_model, "m", "other") == "RESOURCE_ALREADY_EXISTS"
    renamed = store.rename_registered_model("m", "n")
    assert renamed.name == "n" and renamed.tags == {"k": "v"}
    assert _code(store.get_registered_model, "m") == "RESOURCE_DOES_NOT_EXIST"
    # The old name is free again.
    assert store.create_registered_model("m").name == "m"
    store.delete_registered_model("n")
    assert _code(store.delete_registered_model, "n") == "RESOURCE_DOES_NOT_EXIST"


def test_model_names_too_long_for_keys_are_bad_input(store):
    assert _code(store.create_registered_model, "x" * 1000) == "INVALID_PARAMETER_VALUE"
    store.create_registered_model("short")
    assert _code(store.rename_registered_model, "short", "é" * 600) == "INVALID_PARAMETER_VALUE"
    assert store.create_registered_model("y" * 256).name == "y" * 256
    # Looking up a name no model can have is simply not found (no key-length error).
    assert _code(store.get_registered_model, "z" * 5000) == "RESOURCE_DOES_NOT_EXIST"
    assert store.search_registered_models(f"name = '{'z' * 5000}'") == []
    assert store.search_model_versions(f"name IN ('{'z' * 5000}', 'short')") == []


def test_version_tags_beyond_one_item_are_bad_input(store):
    store.create_registered_model("m")
    big = "v" * 100_000
    tags = [ModelVersionTag(f"k{i}", big) for i in range(4)]
    assert _code(store.create_model_version, "m", "s3://a", tags=tags) == "INVALID_PARAMETER_VALUE"
    store.create_model_version("m", "s3://a", tags=tags[:3])
    assert _code(store.set_model_version_tag, "m", 1, tags[3]) == "INVALID_PARAMETER_VALUE"
    assert len(store.get_model_version("m", 1).tags) == 3


def test_model_tags_beyond_one_item_are_bad_input(store):
    big = "v" * 100_000
    tags = [RegisteredModelTag(f"k{i}", big) for i in range(4)]
    assert _code(store.create_registered_model, "m", tags=tags) == "INVALID_PARAMETER_VALUE"
    store.create_registered_model("m", tags=tags[:3])
    assert _code(store.set_registered_model_tag, "m", tags[3]) == "INVALID_PARAMETER_VALUE"
    assert _code(store.update_registered_model, "m", big) == "INVALID_PARAMETER_VALUE"
    # Replacing a big tag by a small one is fine: the check is on the result.
    store.set_registered_model_tag("m", RegisteredModelTag("k0", "small"))
    store.update_registered_model("m", "d" * 50_000)
    assert store.get_registered_model("m").tags["k0"] == "small"


def test_workspaces_isolate_models_versions_and_webhooks(store, monkeypatch):
    from mlflow.entities.webhook import WebhookAction, WebhookEntity, WebhookEvent

    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    monkeypatch.setenv("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", "true")
    event = WebhookEvent(WebhookEntity.MODEL_VERSION, WebhookAction.CREATED)
    with WorkspaceContext("team-a"):
        store.create_registered_model("shared-name", description="a")
        store.create_model_version("shared-name", "s3://a", run_id="r1")
        hook = store.create_webhook("hook", "https://localhost/h", [event])
        assert store.get_registered_model("shared-name").workspace == "team-a"
    with WorkspaceContext("team-b"):
        assert _code(store.get_registered_model, "shared-name") == "RESOURCE_DOES_NOT_EXIST"
        store.create_registered_model("shared-name", description="b")
        assert store.search_model_versions() == []
        assert store.search_model_versions("run_id = 'r1'") == []
        assert _code(store.get_webhook, hook.webhook_id) == "RESOURCE_DOES_NOT_EXIST"
        assert store.list_webhooks() == []
        assert [m.description for m in store.search_registered_models()] == ["b"]
    with WorkspaceContext("team-a"):
        assert [m.description for m in store.search_registered_models()] == ["a"]
        assert len(store.search_model_versions("run_id = 'r1'")) == 1


def test_rename_stamps_each_live_version_as_sql_does(store):
    """The rename itself is one transaction whatever the number of versions; then each live
    version's last update is set to the rename time (the SQL store rewrites every version
    row), one UpdateItem each, so versions move in the update-ordered listing; after the
    rename, one more transaction per 99 versions files them under the new name in
    version-number order (docs/version-number-paging.md)."""
    store.create_registered_model("big")
    for i in range(30):
        store.create_model_version("big", f"s3://{i}")
    store.delete_model_version("big", 7)
    store.gateway.stats.reset()
    renamed = store.rename_registered_model("big", "bigger")
    ops = _requests(store)
    assert ops.get("TransactWriteItems") == 2  # the rename, the 29 live versions re-keyed
    assert ops.get("UpdateItem") == 29 and "BatchWriteItem" not in ops and "Scan" not in ops
    version = store.get_model_version("bigger", 30)
    assert version.name == "bigger"
    assert version.last_updated_timestamp == renamed.last_updated_timestamp


def test_request_counts_of_common_calls(store):
    store.create_registered_model("m")
    store.create_model_version("m", "s3://a", run_id="r")
    stats = store.gateway.stats

    stats.reset()
    store.get_model_version("m", 1)
    assert _requests(store) == {"GetItem": 3}  # name guard, META, version

    stats.reset()
    store.create_model_version("m", "s3://b")
    # name guard, META; then the version and META (claiming the number) in one transaction
    assert _requests(store) == {"GetItem": 2, "TransactWriteItems": 1}

    stats.reset()
    store.get_registered_model("m")
    assert _requests(store) == {"GetItem": 2, "BatchGetItem": 1}

    stats.reset()
    store.search_model_versions("name = 'm'")
    assert _requests(store) == {"BatchGetItem": 2, "Query": 1}

    stats.reset()
    store.search_model_versions("run_id = 'r'")
    assert _requests(store) == {"Query": 2}  # GSI2 by run, then the model's partition

    stats.reset()
    store.search_registered_models()
    assert _requests(store) == {"Query": 1, "BatchGetItem": 1}
    assert "Scan" not in _requests(store)


def test_a_version_number_lost_to_another_creator_is_reread_not_skipped(store):
    """The number is claimed on the value of ``next_version`` read; a creator whose read is
    stale (another took that number) re-reads META and takes the next one."""
    store.create_registered_model("m")
    stale = store._model_item("m")
    store.create_model_version("m", "s3://first")
    fields = {
        "creation_time": 5,
        "last_updated_time": 5,
        "current_stage": "None",
        "source": "s3://second",
        "status": "READY",
        "tags": {},
    }
    store.gateway.stats.reset()
    item = store.versions.create(stale, fields)
    assert item["version"] == 2
    # the lost transaction, 1 GetItem of META, the winning transaction
    assert _requests(store) == {"TransactWriteItems": 2, "GetItem": 1}
    assert sorted(int(v.version) for v in store.search_model_versions("name = 'm'")) == [1, 2]
    assert int(store.get_latest_versions("m", ["None"])[0].version) == 2
    store.create_model_version("m", "s3://third")
    assert store.get_model_version("m", 3).source == "s3://third"


def test_a_reserved_version_number_is_never_taken_by_a_claim(store):
    """Many creators at once fall back to reserving the number with an atomic ADD; a claim
    based on a META read before that reservation loses and takes the number after it."""
    store.create_registered_model("m")
    stale = store._model_item("m")
    fields = {
        "creation_time": 5,
        "last_updated_time": 5,
        "current_stage": "None",
        "source": "s3://reserved",
        "status": "READY",
        "tags": {},
    }
    store.gateway.stats.reset()
    assert store.versions._create_reserved(stale, fields)["version"] == 1
    assert _requests(store) == {"UpdateItem": 1, "TransactWriteItems": 1}
    assert store.versions.create(stale, {**fields, "source": "s3://claimed"})["version"] == 2
    assert {int(v.version): v.source for v in store.search_model_versions("name = 'm'")} == {
        1: "s3://reserved",
        2: "s3://claimed",
    }
    assert int(store.get_latest_versions("m", ["None"])[0].version) == 2


def test_delete_model_removes_its_whole_partition(store, ddb_client, table_name):
    store.create_registered_model("m", tags=[RegisteredModelTag("k", "v")])
    for i in range(30):
        store.create_model_version("m", f"s3://{i}")
    model_id = store.models.get_id("default", "m")
    store.delete_registered_model("m")
    left = ddb_client.query(
        TableName=table_name,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": keys.registered_model_pk(model_id)}},
    )
    assert left["Count"] == 0
    assert store.search_model_versions() == []


def test_version_search_by_run_follows_deletes(store):
    store.create_registered_model("m")
    store.create_model_version("m", "s3://a", run_id="r")
    store.create_model_version("m", "s3://b", run_id="r")
    store.delete_model_version("m", 1)
    assert [int(mv.version) for mv in store.search_model_versions("run_id = 'r'")] == [2]
    assert store.search_model_versions("run_id = 'REDACTED-RUN-ID'") == []


def test_archiving_more_versions_than_one_transaction_holds(store):
    store.create_registered_model("m")
    for i in range(105):
        store.create_model_version("m", f"s3://{i}")
        store.transition_model_version_stage("m", i + 1, "Production", False)
    store.create_model_version("m", "s3://new")
    store.transition_model_version_stage("m", 106, "Production", True)
    stages = {int(mv.version): mv.current_stage for mv in store.search_model_versions()}
    assert stages[106] == "Production"
    assert {s for v, s in stages.items() if v != 106} == {"Archived"}
    latest = {mv.current_stage: int(mv.version) for mv in store.get_latest_versions("m")}
    assert latest == {"Archived": 105, "Production": 106}


def test_versions_of_unindexable_run_ids_are_still_found(store):
    store.create_registered_model("m")
    long_run = "r" * 3000
    store.create_model_version("m", "s3://a", run_id=long_run)
    store.create_model_version("m", "s3://b", run_id="")
    assert [int(v.version) for v in store.search_model_versions(f"run_id = '{long_run}'")] == [1]
    assert [int(v.version) for v in store.search_model_versions("run_id = ''")] == [2]
