"""How a server's environment meets the table's settings (pure: no table)."""

from dataclasses import fields

import pytest
from mlflow.exceptions import MlflowException

from mlflow_dynamodbstore.config import RetentionPolicy, StoreSettings, settings_from_env
from mlflow_dynamodbstore.config.reconcile import RETENTION_ENV, env_overlay
from mlflow_dynamodbstore.config.source import refresh_seconds_from_env

STORED = StoreSettings(
    denormalize_tags=("mlflow.*", "team"),
    fts_trigram_fields=("experiment_name", "run_param_value"),
    retention=RetentionPolicy(30, 7, 5),
    experiment_denormalize_tags=(("1", ("owner",)),),
    version=4,
)


def test_every_retention_field_has_its_variable():
    assert set(RETENTION_ENV) == {f.name for f in fields(RetentionPolicy)}


def test_lists_are_unions_that_keep_the_tables_order_and_entries():
    overlay = env_overlay(
        {
            "MLFLOW_DYNAMODB_DENORMALIZE_TAGS": "env, team",
            "MLFLOW_DYNAMODB_FTS_TRIGRAM_FIELDS": "trace_tag_value",
        }
    )
    result = overlay.apply(STORED)
    assert result.denormalize_tags == ("mlflow.*", "team", "env")
    assert result.fts_trigram_fields == ("experiment_name", "run_param_value", "trace_tag_value")
    assert result.experiment_denormalize_tags == STORED.experiment_denormalize_tags
    assert result.version == 4


def test_set_retention_variables_override_and_unset_ones_keep_the_table():
    overlay = env_overlay(
        {
            "MLFLOW_DYNAMODB_TRACE_RETENTION_DAYS": "14",
            "MLFLOW_DYNAMODB_SOFT_DELETED_RETENTION_DAYS": "0",
            "MLFLOW_DYNAMODB_METRIC_HISTORY_RETENTION_DAYS": "  ",
        }
    )
    assert overlay.apply(STORED).retention == RetentionPolicy(0, 14, 5)


def test_an_empty_environment_changes_nothing():
    assert env_overlay({}).apply(STORED) == STORED
    assert env_overlay({}).apply(StoreSettings()) == StoreSettings()


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"MLFLOW_DYNAMODB_DENORMALIZE_TAGS": "a,b", "MLFLOW_DYNAMODB_TRACE_RETENTION_DAYS": "3"},
        {
            "MLFLOW_DYNAMODB_FTS_TRIGRAM_FIELDS": "x",
            "MLFLOW_DYNAMODB_SOFT_DELETED_RETENTION_DAYS": "1",
        },
    ],
)
def test_over_the_defaults_the_overlay_is_the_environment_alone(environ):
    assert env_overlay(environ).apply(StoreSettings()) == settings_from_env(environ)


def test_bad_retention_is_refused():
    with pytest.raises(MlflowException, match="MLFLOW_DYNAMODB_TRACE_RETENTION_DAYS"):
        env_overlay({"MLFLOW_DYNAMODB_TRACE_RETENTION_DAYS": "-2"})


def test_refresh_interval():
    assert refresh_seconds_from_env({}) == 30
    assert refresh_seconds_from_env({"MLFLOW_DYNAMODB_CONFIG_REFRESH_SECONDS": "60"}) == 60
    assert refresh_seconds_from_env({"MLFLOW_DYNAMODB_CONFIG_REFRESH_SECONDS": "0.5"}) == 0.5


@pytest.mark.parametrize("raw", ["61", "0", "-1", "soon"])
def test_refresh_interval_must_be_positive_and_at_most_a_minute(raw):
    with pytest.raises(MlflowException, match="MLFLOW_DYNAMODB_CONFIG_REFRESH_SECONDS") as exc:
        refresh_seconds_from_env({"MLFLOW_DYNAMODB_CONFIG_REFRESH_SECONDS": raw})
    assert exc.value.error_code == "INVALID_PARAMETER_VALUE"
