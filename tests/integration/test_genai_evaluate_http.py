"""``mlflow.genai.evaluate`` against a real `mlflow server` on this store, beside one on
SQLite: the same evaluation dataset, predict function and custom scorers; the evaluation
run, its metrics, its traces with their assessments and the dataset linkage must come out
the same on both (ids and times aside)."""

from __future__ import annotations

import mlflow
import pytest
from mlflow.genai import datasets as genai_datasets
from mlflow.genai.scorers import scorer
from mlflow.tracking import MlflowClient

from tests.mlflow_server import ours_and_sqlite_servers

pytestmark = pytest.mark.slow

RECORDS = [
    {"inputs": {"question": "What is MLflow?"}, "expectations": {"answer": "WHAT IS MLFLOW?"}},
    {"inputs": {"question": "What is DynamoDB?"}, "expectations": {"answer": "a database"}},
    {"inputs": {"question": "ünïcode?"}, "expectations": {"answer": "ÜNÏCODE?"}},
]


def predict(question: str) -> str:
    return question.upper()


@scorer
def exact_match(outputs, expectations) -> bool:
    return outputs == expectations["answer"]


@scorer
def answer_length(outputs) -> int:
    return len(outputs)


def _evaluate_on(url: str) -> dict:
    mlflow.set_tracking_uri(url)
    client = MlflowClient(tracking_uri=url)
    experiment_id = mlflow.set_experiment("genai-evaluate").experiment_id
    dataset = genai_datasets.create_dataset(name="questions", experiment_id=experiment_id)
    dataset.merge_records(RECORDS)
    result = mlflow.genai.evaluate(
        data=genai_datasets.get_dataset(dataset_id=dataset.dataset_id),
        predict_fn=predict,
        scorers=[exact_match, answer_length],
    )
    mlflow.flush_trace_async_logging()
    run = client.get_run(result.run_id)
    traces = client.search_traces(locations=[experiment_id], run_id=result.run_id)
    per_question = {}
    for trace in traces:
        question = trace.data.request  # the predict function's inputs, as JSON
        per_question[question] = sorted(
            (a.name, a.value, a.source.source_type)
            for a in trace.info.assessments
            if a.name in ("exact_match", "answer_length")
        )
    return {
        "metrics": {k: v for k, v in run.data.metrics.items()},
        "dataset_inputs": sorted(
            (d.dataset.name, d.dataset.source_type) for d in run.inputs.dataset_inputs
        ),
        "assessments": dict(sorted(per_question.items())),
        "trace_count": len(traces),
        "dataset_linked": experiment_id
        in genai_datasets.get_dataset(dataset_id=dataset.dataset_id).experiment_ids,
    }


def test_genai_evaluate_with_a_dataset_and_scorers_as_on_sqlite(store_uri, tmp_path):
    previous = mlflow.get_tracking_uri()
    try:
        # the SQLite reference server starts while ours does (the evaluations run one after
        # the other)
        with ours_and_sqlite_servers(store_uri, tmp_path) as (our_url, sql_url):
            ours = _evaluate_on(our_url)
            reference = _evaluate_on(sql_url)
    finally:
        mlflow.set_tracking_uri(previous)
    assert ours["trace_count"] == len(RECORDS)
    assert ours["metrics"]["exact_match/mean"] == pytest.approx(2 / 3)
    assert ours["dataset_linked"] is True
    assert len(ours["assessments"]) == len(RECORDS)
    assert all(len(found) == 2 for found in ours["assessments"].values())
    assert ours == reference
