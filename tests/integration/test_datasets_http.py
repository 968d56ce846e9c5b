"""Evaluation datasets through a real `mlflow server` with this plugin, driven by MLflow's
client API (``mlflow.genai.datasets``): create, merge records (deduplicated by inputs),
search, records paged over REST, tags, experiment links, delete, a record too big for one
item, and errors as HTTP errors."""

from __future__ import annotations

import base64
import random

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from mlflow.genai import datasets as genai_datasets
from mlflow.tracking import MlflowClient

from tests.mlflow_server import mlflow_server


@pytest.mark.slow
def test_evaluation_datasets_over_http(store_uri, tmp_path):
    with mlflow_server(store_uri, tmp_path) as url:
        mlflow.set_tracking_uri(url)
        client = MlflowClient(tracking_uri=url)
        e1 = client.create_experiment("eval-1")
        e2 = client.create_experiment("eval-2")

        ds = genai_datasets.create_dataset(name="qa", experiment_id=[e1], tags={"team": "a"})
        other = genai_datasets.create_dataset(name="other", experiment_id=e2)
        ds.merge_records(
            [
                {"inputs": {"q": "What is MLflow?"}, "expectations": {"answer": "A platform"}},
                {"inputs": {"q": "数据?"}, "expectations": {"answer": "data"}},
            ]
        )
        ds.merge_records(
            [
                {"inputs": {"q": "What is MLflow?"}, "expectations": {"source": "docs"}},
                {"inputs": {"q": "new"}},
            ]
        )

        got = genai_datasets.get_dataset(dataset_id=ds.dataset_id)
        assert got.name == "qa" and got.tags["team"] == "a"
        assert got.profile == '{"num_records": 3}'
        df = got.to_df()
        assert len(df) == 3
        merged = {r["q"]: e for r, e in zip(df["inputs"], df["expectations"], strict=True)}
        assert merged["What is MLflow?"] == {"answer": "A platform", "source": "docs"}
        assert got.experiment_ids == [e1]

        # records paged over REST (GetDatasetRecords)
        records, token = client._tracking_client.store._load_dataset_records(
            ds.dataset_id, max_results=2
        )
        assert len(records) == 2 and token
        rest, end = client._tracking_client.store._load_dataset_records(
            ds.dataset_id, max_results=2, page_token=token
        )
        assert len(rest) == 1 and end is None

        found = genai_datasets.search_datasets(filter_string="name = 'qa'")
        assert [d.dataset_id for d in found] == [ds.dataset_id]
        by_experiment = genai_datasets.search_datasets(experiment_ids=[e2])
        assert [d.dataset_id for d in by_experiment] == [other.dataset_id]
        everything = genai_datasets.search_datasets(max_results=1000, order_by=["name ASC"])
        assert [d.name for d in everything] == ["other", "qa"]
        with pytest.raises(MlflowException) as info:
            genai_datasets.search_datasets(filter_string="nope = 'x'")
        assert info.value.error_code == "INVALID_PARAMETER_VALUE"

        genai_datasets.set_dataset_tags(dataset_id=ds.dataset_id, tags={"stage": "prod"})
        genai_datasets.delete_dataset_tag(dataset_id=ds.dataset_id, key="team")
        tags = genai_datasets.get_dataset(dataset_id=ds.dataset_id).tags
        assert {k: v for k, v in tags.items() if k != "mlflow.user"} == {"stage": "prod"}

        linked = genai_datasets.add_dataset_to_experiments(ds.dataset_id, [e2])
        assert sorted(linked.experiment_ids) == sorted([e1, e2])
        genai_datasets.remove_dataset_from_experiments(ds.dataset_id, [e1])
        assert genai_datasets.get_dataset(dataset_id=ds.dataset_id).experiment_ids == [e2]

        genai_datasets.delete_dataset(dataset_id=other.dataset_id)
        with pytest.raises(MlflowException) as info:
            genai_datasets.get_dataset(dataset_id=other.dataset_id)
        assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"

        # a record too big for one DynamoDB item round-trips over REST; beyond 10 MB
        # compressed the store answers 400 INVALID_PARAMETER_VALUE
        big = genai_datasets.create_dataset(name="big")
        text = base64.b64encode(random.Random(0).randbytes(900_000)).decode()
        big.merge_records([{"inputs": {"q": "big"}, "outputs": text}, {"inputs": {"q": "s"}}])
        big_df = genai_datasets.get_dataset(dataset_id=big.dataset_id).to_df()
        outputs = {r["q"]: o for r, o in zip(big_df["inputs"], big_df["outputs"], strict=True)}
        assert outputs["big"] == text
        huge = base64.b64encode(random.Random(1).randbytes(11 * 1024 * 1024)).decode()
        with pytest.raises(MlflowException, match="at most 10 MB compressed") as info:
            big.merge_records([{"inputs": {"q": "huge"}, "outputs": huge}])
        assert info.value.error_code == "INVALID_PARAMETER_VALUE"
