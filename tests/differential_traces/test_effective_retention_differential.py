"""``Experiment.effective_trace_archival_retention`` against SqlAlchemyStore (SQLite): with
the server's trace archival config (MLflow's ``MLFLOW_TRACE_ARCHIVAL_CONFIG`` file) both
stores fill it from each experiment's ``mlflow.trace.archivalRetention`` tag, the broader
retention and the long-retention allowlist, in ``get_experiment``,
``get_experiment_by_name`` and ``search_experiments``; without a config, or with archival
disabled, both leave it None."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mlflow.entities import ExperimentTag, ViewType
from mlflow.tracing.constant import TraceExperimentTagKey

from tests.differential.harness import attempt

TAGS = {
    "plain": None,
    "shorter": {"type": "duration", "value": "2h"},
    "longer": {"type": "duration", "value": "30d"},
    "allowed": {"type": "duration", "value": "30d"},
    "malformed": "not json",  # refused by both stores' tag validation: no tag
    "wrong_type": {"type": "count", "value": "3"},
}


def _populate(store) -> tuple[dict[str, str], dict[str, Any]]:
    exps, tagged = {}, {}
    for name, tag in TAGS.items():
        exps[name] = store.create_experiment(name)
        if tag is not None:
            value = tag if isinstance(tag, str) else json.dumps(tag)
            tagged[name] = attempt(
                lambda e=exps[name], v=value: store.set_experiment_tag(
                    e, ExperimentTag(TraceExperimentTagKey.ARCHIVAL_RETENTION, v)
                )
            )
    return exps, tagged


def _scenario(store) -> dict[str, Any]:
    exps, tagged = _populate(store)
    out: dict[str, Any] = {"set_tag": tagged}
    out["get_experiment"] = {
        name: store.get_experiment(e).effective_trace_archival_retention for name, e in exps.items()
    }
    out["get_experiment_by_name"] = {
        name: store.get_experiment_by_name(name).effective_trace_archival_retention for name in exps
    }
    out["search_experiments"] = attempt(
        lambda: sorted(
            (e.name, e.effective_trace_archival_retention)
            for e in store.search_experiments(view_type=ViewType.ALL, max_results=100)
        )
    )
    store.delete_experiment(exps["shorter"])
    out["deleted"] = store.get_experiment(exps["shorter"]).effective_trace_archival_retention
    return out


def _config(tmp_path, *, enabled: bool, allowlist: str) -> str:
    path = tmp_path / "archival.yaml"
    path.write_text(
        "trace_archival:\n"
        f"  enabled: {'true' if enabled else 'false'}\n"
        f"  location: file://{tmp_path / 'archive'}\n"
        "  retention: 1d\n"
        f'  long_retention_allowlist: ["{allowlist}"]\n'
    )
    return str(path)


@pytest.mark.parametrize("enabled", [True, False], ids=["enabled", "disabled"])
def test_effective_retention_same_as_sqlalchemy_store(
    sql_store, dynamo_store, tmp_path, monkeypatch, enabled
):
    # Experiment ids are the same on both stores (0 is Default, then 1, 2, ...): "allowed"
    # is the fourth created.
    monkeypatch.setenv(
        "MLFLOW_TRACE_ARCHIVAL_CONFIG", _config(tmp_path, enabled=enabled, allowlist="4")
    )
    expected = _scenario(sql_store)
    actual = _scenario(dynamo_store)
    assert actual == expected
    if enabled:
        assert expected["get_experiment"] == {
            "plain": "1d",
            "shorter": "2h",
            "longer": "1d",
            "allowed": "30d",
            "malformed": "1d",
            "wrong_type": "1d",
        }
        assert expected["deleted"] == "2h"
    else:
        assert set(expected["get_experiment"].values()) == {None}


def test_no_archival_config_leaves_it_unset(sql_store, dynamo_store, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACE_ARCHIVAL_CONFIG", raising=False)
    expected = _scenario(sql_store)
    assert _scenario(dynamo_store) == expected
    assert set(expected["get_experiment"].values()) == {None}
