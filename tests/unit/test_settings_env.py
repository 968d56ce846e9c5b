"""The settings contract read from the environment (the public 0.1.0 package's names)."""

import pytest
from mlflow.exceptions import MlflowException

from mlflow_dynamodbstore.config import RetentionPolicy, settings_from_env


def test_defaults_keep_everything_but_what_the_user_deleted():
    settings = settings_from_env({})
    assert settings.retention == RetentionPolicy(90, 0, 0)
    assert settings.denormalize_tags == ("mlflow.*",)
    assert "experiment_name" in settings.fts_trigram_fields


def test_env_lists_are_unions_with_the_always_on_values():
    settings = settings_from_env(
        {
            "MLFLOW_DYNAMODB_DENORMALIZE_TAGS": "team, env ,mlflow.*",
            "MLFLOW_DYNAMODB_FTS_TRIGRAM_FIELDS": "run_param_value",
        }
    )
    assert settings.denormalize_tags == ("mlflow.*", "team", "env")
    assert settings.fts_trigram_fields[-1] == "run_param_value"
    assert "run_name" in settings.fts_trigram_fields


def test_retention_days_from_env():
    settings = settings_from_env(
        {
            "MLFLOW_DYNAMODB_SOFT_DELETED_RETENTION_DAYS": "0",
            "MLFLOW_DYNAMODB_TRACE_RETENTION_DAYS": "30",
            "MLFLOW_DYNAMODB_METRIC_HISTORY_RETENTION_DAYS": " ",
        }
    )
    assert settings.retention == RetentionPolicy(0, 30, 0)


@pytest.mark.parametrize("raw", ["-1", "ten", "1.5"])
def test_bad_retention_days_are_refused(raw):
    with pytest.raises(MlflowException, match="MLFLOW_DYNAMODB_TRACE_RETENTION_DAYS"):
        settings_from_env({"MLFLOW_DYNAMODB_TRACE_RETENTION_DAYS": raw})


@pytest.mark.parametrize(
    ("raw", "on"), [(None, False), ("true", True), ("FALSE", False), ("1", True)]
)
def test_xray_switch_from_env(raw, on):
    env = {} if raw is None else {"MLFLOW_DYNAMODB_XRAY": raw}
    assert settings_from_env(env).xray is on


def test_xray_switch_refuses_other_values():
    with pytest.raises(MlflowException, match="MLFLOW_DYNAMODB_XRAY"):
        settings_from_env({"MLFLOW_DYNAMODB_XRAY": "sometimes"})
