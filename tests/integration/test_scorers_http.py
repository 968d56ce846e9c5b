"""Scorers through a real `mlflow server` on this plugin, driven by MLflow's client API
(``@scorer`` + ``.register``, ``make_judge``, ``list_scorers``, ``get_scorer``,
``delete_scorer``, the online-config REST calls), with the same outcome as a server on
SQLite. No LLM is called: registering, listing and deleting never run a scorer."""

from __future__ import annotations

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from mlflow.genai.judges import make_judge
from mlflow.genai.scorers import delete_scorer, get_scorer, list_scorers, scorer
from mlflow.tracking._tracking_service.utils import _get_store

from tests.mlflow_server import mlflow_server, mlflow_servers
from tests.sqlite_template import migrated_sqlite_uri

pytestmark = pytest.mark.slow

# Custom (@scorer) code may only be registered when the operator allows it; the client needs
# it too, to rebuild a listed custom scorer.
CUSTOM_SCORERS = {"MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS": "true"}


@scorer
def answer_length(outputs) -> int:
    return len(str(outputs))


def _error(fn) -> str:
    try:
        fn()
    except MlflowException as exc:
        return exc.error_code
    return "no error"


def _workload(url: str) -> dict:
    mlflow.set_tracking_uri(url)
    experiment_id = mlflow.set_experiment("scorers").experiment_id
    polite = make_judge(
        name="polite",
        instructions="Is {{ outputs }} polite?",
        model="openai:/gpt-4o-mini",
        feedback_value_type=bool,
    )
    first = answer_length.register(name="length")
    second = answer_length.register(name="length")
    polite.register()
    out: dict = {
        "registered": [first.name, second.name],
        "listed": sorted((s.name, type(s).__name__) for s in list_scorers()),
        "latest": get_scorer(name="length").name,
        "v1": get_scorer(name="length", version=1).name,
        "judge_model": get_scorer(name="polite").model,
        "missing": _error(lambda: get_scorer(name="nope")),
        "missing_version": _error(lambda: get_scorer(name="length", version=7)),
    }
    store = _get_store()
    versions = store.list_scorer_versions(experiment_id, "length")
    out["versions"] = [v.scorer_version for v in versions]
    scorer_id = store.get_scorer(experiment_id, "polite").scorer_id
    config = store.upsert_online_scoring_config(experiment_id, "polite", 0.0, "trace.status='OK'")
    out["config"] = (config.sample_rate, config.filter_string, config.scorer_id == scorer_id)
    out["online_needs_gateway"] = _error(
        lambda: store.upsert_online_scoring_config(experiment_id, "polite", 0.5)
    )
    out["configs"] = [
        (c.sample_rate, c.filter_string) for c in store.get_online_scoring_configs([scorer_id])
    ]
    delete_scorer(name="length", version=1)
    out["after_version_delete"] = [
        v.scorer_version for v in store.list_scorer_versions(experiment_id, "length")
    ]
    delete_scorer(name="length", version="all")
    delete_scorer(name="polite", version="all")
    out["after_delete"] = [s.name for s in list_scorers()]
    out["configs_after_delete"] = store.get_online_scoring_configs([scorer_id])
    out["delete_again"] = _error(lambda: delete_scorer(name="length", version="all"))
    return out


def test_scorers_through_the_server_as_on_sqlite(store_uri, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS", "true")
    sqlite_uri = migrated_sqlite_uri(tmp_path / "mlflow.db")
    # the SQLite reference server starts while ours does (the workloads run one after the other)
    with mlflow_servers(
        mlflow_server(store_uri, tmp_path / "dynamo", env=CUSTOM_SCORERS),
        mlflow_server(sqlite_uri, tmp_path / "sql", env=CUSTOM_SCORERS),
    ) as (our_url, sql_url):
        ours = _workload(our_url)
        reference = _workload(sql_url)
    assert ours == reference
    assert ours["versions"] == [1, 2]
    assert ours["listed"] == [("length", "CustomScorer"), ("polite", "InstructionsJudge")]
    assert ours["after_version_delete"] == [2]
    assert ours["after_delete"] == [] and ours["delete_again"] == "RESOURCE_DOES_NOT_EXIST"
