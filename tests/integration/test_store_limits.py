"""DynamoDB refusals that no repository expects reach MLflow as INVALID_PARAMETER_VALUE,
never as a botocore error (a 500 from the server)."""

from __future__ import annotations

import inspect

import pytest
from mlflow.entities import ExperimentTag
from mlflow.exceptions import MlflowException
from mlflow.utils.validation import MAX_EXPERIMENT_TAG_VAL_LENGTH

from mlflow_dynamodbstore.gateway.limits import MAX_ITEM_BYTES
from mlflow_dynamodbstore.stores.registry_store import DynamoDBRegistryStore
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider


def test_create_experiment_with_tags_over_the_item_limit(store):
    # Each tag is valid for MLflow; together they outgrow the experiment's item. This used to
    # leak botocore's ValidationException from the create transaction.
    count = MAX_ITEM_BYTES // MAX_EXPERIMENT_TAG_VAL_LENGTH + 1
    tags = [ExperimentTag(f"k{i}", "v" * MAX_EXPERIMENT_TAG_VAL_LENGTH) for i in range(count)]
    with pytest.raises(MlflowException) as info:
        store.create_experiment("big", tags=tags)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "Item size has exceeded the maximum allowed size" in info.value.message
    assert "The largest value given is 'tags'" in info.value.message  # the field, named
    assert "vvvv" not in info.value.message
    assert store.get_experiment_by_name("big") is None
    # Nothing was written, so no id was used up either.
    assert store.create_experiment("small") == "1"


def test_an_expected_too_large_write_keeps_its_own_message(store):
    """The experiments repository catches the gateway's ItemTooLarge itself."""
    eid = store.create_experiment("tagged")
    value = "v" * MAX_EXPERIMENT_TAG_VAL_LENGTH
    with pytest.raises(MlflowException) as info:
        for i in range(MAX_ITEM_BYTES // MAX_EXPERIMENT_TAG_VAL_LENGTH + 1):
            store.set_experiment_tag(eid, ExperimentTag(f"k{i}", value))
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert info.value.message == (
        f"Experiment {eid} cannot hold more tags (DynamoDB's 400 KB item limit)."
    )


@pytest.mark.parametrize(
    "store_class", [DynamoDBTrackingStore, DynamoDBRegistryStore, DynamoDBWorkspaceProvider]
)
def test_every_store_method_translates_gateway_errors(store_class):
    """The translation is applied to the class once; a method added later is covered too."""
    for name in dir(store_class):
        attr = inspect.getattr_static(store_class, name)
        if (
            inspect.isfunction(attr)
            and not name.startswith("_")
            and attr.__module__.startswith("mlflow_dynamodbstore.stores.")
            and not attr.__module__.endswith(".unsupported")
        ):
            assert getattr(attr, "__translates_gateway_errors__", False), name


def test_ids_too_long_for_a_key_are_not_found(store):
    """No item can have a key over DynamoDB's limits: a read finds nothing (the SQL store's
    404), instead of DynamoDB's ValidationException (a 400)."""
    assert store.get_experiment_by_name("e" * 5000) is None
    with pytest.raises(MlflowException) as info:
        store.get_trace_info("tr-" + "a" * 5000)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert store.batch_get_trace_infos(["tr-" + "b" * 5000]) == []
