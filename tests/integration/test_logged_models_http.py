"""Logged models over HTTP: the same client workload against a real `mlflow server` on this
plugin and on SQLite gives the same results (model ids and times normalised away)."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient
from mlflow.entities import LoggedModelStatus, Metric
from mlflow.exceptions import MlflowException

from tests.mlflow_server import ours_and_sqlite_servers

pytestmark = pytest.mark.slow

SEARCHES = [
    {},
    {"filter_string": "name LIKE 'model-%' AND params.alpha = '0.1'"},
    {"filter_string": "metrics.rmse < 0.5"},
    {"filter_string": "tags.stage != 'dev'"},
    {"filter_string": "status = '2'"},
    {"order_by": [{"field_name": "metrics.rmse", "ascending": True}]},
    {"order_by": [{"field_name": "name", "ascending": False}]},
    {"datasets": [{"dataset_name": "eval", "dataset_digest": "abc"}]},
    {"filter_string": "metrics.rmse > 0", "datasets": [{"dataset_name": "train"}]},
]
BAD = [
    {"filter_string": "name = 'a' OR name = 'b'"},
    {"filter_string": "params.alpha > 1"},
    {"order_by": [{"field_name": "params.alpha"}]},
    {"order_by": [{"field_name": "foo"}]},
]


def _workload(url: str) -> dict:
    client = MlflowClient(url)
    exp = client.create_experiment("lm-http")
    run_id = client.create_run(exp).info.run_id
    names = {}
    for i, (alpha, stage, rmse) in enumerate([("0.1", "dev", 0.4), ("0.2", "prod", 0.6)]):
        model = client.create_logged_model(
            exp,
            name=f"model-{i}",
            source_run_id=run_id,
            params={"alpha": alpha},
            tags={"stage": stage},
            model_type="regressor",
        )
        names[model.model_id] = model.name
        client.log_batch(
            run_id,
            metrics=[
                Metric("rmse", rmse, 1000 + i, 0, model_id=model.model_id),
                Metric("rmse", rmse / 2, 1000 + i, 1, model_id=model.model_id,
                       dataset_name="eval", dataset_digest="abc"),
            ],
        )  # fmt: skip
    first, second = list(names)
    client.finalize_logged_model(first, LoggedModelStatus.READY)
    client.set_logged_model_tags(first, {"owner": "me", "stage": "prod"})
    client.delete_logged_model_tag(second, "stage")
    client.log_model_params(second, {"beta": "3"})
    gone = client.create_logged_model(exp, name="model-gone")
    client.delete_logged_model(gone.model_id)

    def describe(m) -> tuple:
        metrics = sorted(
            (x.key, x.value, x.step, x.dataset_name, x.dataset_digest) for x in m.metrics or []
        )
        return (m.name, m.status.name, m.model_type, m.tags, m.params, metrics)

    result: dict = {"got": describe(client.get_logged_model(first))}
    for i, args in enumerate(SEARCHES):
        found = client.search_logged_models([exp], **args)
        result[f"search {i}"] = [describe(m) for m in found]
    pages, token = [], None
    while True:
        page = client.search_logged_models([exp], max_results=1, page_token=token)
        pages.append([m.name for m in page])
        if not (token := page.token):
            break
    result["pages"] = pages
    for i, args in enumerate(BAD):
        with pytest.raises(MlflowException) as info:
            client.search_logged_models([exp], **args)
        result[f"bad {i}"] = info.value.error_code
    for call in (
        lambda: client.get_logged_model(gone.model_id),
        lambda: client.get_logged_model("m-missing"),
        lambda: client.delete_logged_model_tag(first, "missing"),
        lambda: client.log_model_params(first, {"alpha": "9"}),
        lambda: client.create_logged_model(exp, name="bad/name"),
    ):
        with pytest.raises(MlflowException) as info:
            call()
        result.setdefault("errors", []).append(info.value.error_code)
    return result


def test_logged_models_match_sqlite_server(store_uri, tmp_path):
    # the SQLite reference server starts while ours does (the workloads run one after the other)
    with ours_and_sqlite_servers(store_uri, tmp_path) as (our_url, sql_url):
        ours = _workload(our_url)
        reference = _workload(sql_url)
    assert ours == reference
    assert len(ours["search 0"]) == 2 and ours["pages"] == [["model-1"], ["model-0"]]
    assert ours["errors"] == [
        "RESOURCE_DOES_NOT_EXIST",
        "RESOURCE_DOES_NOT_EXIST",
        "RESOURCE_DOES_NOT_EXIST",
        "BAD_REQUEST",
        "INVALID_PARAMETER_VALUE",
    ]
