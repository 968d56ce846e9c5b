"""The fluent API against a real `mlflow server` on this plugin gives the same results as
against a SQLite-backed server."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest

from tests.mlflow_server import ours_and_sqlite_servers

pytestmark = pytest.mark.slow


def _workload(tracking_uri: str) -> pd.DataFrame:
    mlflow.set_tracking_uri(tracking_uri)
    try:
        mlflow.set_experiment("fluent")
        for i in range(3):
            with mlflow.start_run(run_name=f"run-{i}"):
                mlflow.log_param("lr", 0.1 * (i + 1))
                mlflow.log_params({"layers": i, "opt": "adam"})
                mlflow.log_metric("loss", 1.0 / (i + 1))
                for step in range(5):
                    mlflow.log_metrics({"acc": 0.1 * step + i, "f1": 0.5}, step=step)
                mlflow.set_tags({"team": "ml", "idx": str(i)})
                dataset = mlflow.data.from_pandas(
                    pd.DataFrame({"x": [1, 2, i]}), name=f"ds-{i}", targets="x"
                )
                mlflow.log_input(dataset, context="training")
        df = mlflow.search_runs(
            filter_string="metrics.acc > 0.5 and params.opt = 'adam'",
            order_by=["metrics.loss ASC"],
        )
        client = mlflow.MlflowClient()
        run = client.get_run(df["run_id"].iloc[0])
        history = client.get_metric_history(run.info.run_id, "acc")
        assert [m.step for m in history] == list(range(5))
        assert run.inputs.dataset_inputs[0].dataset.name.startswith("ds-")
        assert run.inputs.dataset_inputs[0].tags[0].value == "training"
    finally:
        mlflow.set_tracking_uri(None)
    volatile = [c for c in df.columns if c in ("run_id", "experiment_id", "artifact_uri")]
    volatile += [c for c in df.columns if c.endswith("_time") or c.startswith("tags.mlflow.")]
    return df.drop(columns=volatile).sort_index(axis=1).reset_index(drop=True)


def test_fluent_api_matches_sqlite_server(store_uri, tmp_path):
    # the SQLite reference server starts while ours does (the workloads run one after the other)
    with ours_and_sqlite_servers(store_uri, tmp_path) as (our_url, sql_url):
        ours = _workload(our_url)
        reference = _workload(sql_url)
    assert len(ours) == 2  # run-0 ends with acc = 0.4
    pd.testing.assert_frame_equal(ours, reference)
