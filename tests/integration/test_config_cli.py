"""``mlflow-dynamodbstore config show`` against DynamoDB Local."""

from __future__ import annotations

import json
from dataclasses import replace

from click.testing import CliRunner

from mlflow_dynamodbstore.cli.main import cli
from mlflow_dynamodbstore.config import RetentionPolicy, StoreSettings
from mlflow_dynamodbstore.config.items import ConfigItems
from mlflow_dynamodbstore.stores.connection import connect


def stored(store_uri: str) -> StoreSettings:
    items = ConfigItems(connect(store_uri, shared=False, settings_environ={}).gateway)
    return items.update(
        lambda s: replace(
            s,
            denormalize_tags=("mlflow.*", "team"),
            fts_trigram_fields=(*s.fts_trigram_fields, "run_param_value"),
            retention=RetentionPolicy(30, 7, 0),
            experiment_denormalize_tags=(("12", ("owner", "stage.*")),),
        ),
        initial=StoreSettings(),
    )


def test_show_prints_every_setting_and_the_version(store_uri):
    stored(store_uri)
    result = CliRunner().invoke(cli, ["config", "show", store_uri])
    assert result.exit_code == 0, result.output
    lines = [line.split(None, 1) for line in result.output.splitlines()]
    assert lines[0] == ["SETTING", "VALUE"]
    rows = dict(lines[1:])
    assert rows == {
        "version": "1",
        "denormalize_tags": "mlflow.*, team",
        # trace_name is always on (the name dictionary)
        "fts_trigram_fields": "experiment_name, run_name, model_name, logged_model_name, "
        "trace_name, run_param_value",
        "soft_deleted_retention_days": "30",
        "trace_retention_days": "7",
        "metric_history_retention_days": "0 (keep forever)",
        "experiment_denormalize_tags[12]": "owner, stage.*",
    }


def test_show_json(store_uri):
    stored(store_uri)
    result = CliRunner().invoke(cli, ["config", "show", store_uri, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "version": 1,
        "denormalize_tags": ["mlflow.*", "team"],
        "fts_trigram_fields": [
            "experiment_name",
            "run_name",
            "model_name",
            "logged_model_name",
            "trace_name",
            "run_param_value",
        ],
        "retention": {
            "soft_deleted_retention_days": 30,
            "trace_retention_days": 7,
            "metric_history_retention_days": 0,
        },
        "experiment_denormalize_tags": {"12": ["owner", "stage.*"]},
    }


def test_show_on_a_table_with_nothing_stored_gives_the_defaults_and_writes_nothing(
    store_uri, monkeypatch
):
    # The shell's variables are not reconciled into the table by looking at it.
    monkeypatch.setenv("MLFLOW_DYNAMODB_DENORMALIZE_TAGS", "from_shell")
    result = CliRunner().invoke(cli, ["config", "show", store_uri, "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["version"] == 0
    assert shown["denormalize_tags"] == ["mlflow.*"]
    assert shown["retention"]["soft_deleted_retention_days"] == 90
    assert shown["experiment_denormalize_tags"] == {}
    assert ConfigItems(connect(store_uri, shared=False, settings_environ={}).gateway).load() is None

    plain = CliRunner().invoke(cli, ["config", "show", store_uri])
    assert "0 (nothing stored)" in plain.output
    assert "(none)" in plain.output


def test_show_refuses_a_bad_uri():
    result = CliRunner().invoke(cli, ["config", "show", "dynamodb://"])
    assert result.exit_code == 1
    assert "INVALID_PARAMETER_VALUE" in result.output
    assert "Traceback" not in result.output
