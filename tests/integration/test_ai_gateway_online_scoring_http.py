"""Online scoring on this store, end to end: a judge on an AI gateway endpoint
(``gateway:/judge``) given an online scoring config is run by MLflow's job backend (the
periodic scheduler, a Huey consumer, the job's subprocess, all on the table) on a trace,
its LLM call goes through the server's gateway route to a local fake of OpenAI's API with
the decrypted key, and its feedback lands on the trace."""

from __future__ import annotations

import json
import time

import mlflow
import pytest
from mlflow.entities import GatewayEndpointModelConfig
from mlflow.entities.gateway_endpoint import GatewayModelLinkageType
from mlflow.genai.judges import make_judge
from mlflow.tracking._tracking_service.utils import _get_store

from tests.fake_openai import JUDGE_MODEL, fake_openai
from tests.integration.test_ai_gateway_invoke_http import SECRET, SERVER_ENV
from tests.mlflow_server import mlflow_server

pytestmark = pytest.mark.slow

ONLINE_ENV = {
    **SERVER_ENV,
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "true",
    # score a trace as soon as it is logged (the default waits 5 minutes for it to finish)
    "MLFLOW_ONLINE_SCORING_DEFAULT_TRACE_COMPLETION_BUFFER_SECONDS": "0",
}


@mlflow.trace(name="answer")
def answer(question: str) -> str:
    return f"Thank you for asking: {question}"


def test_online_scoring_runs_a_gateway_judge(store_uri, tmp_path):
    with (
        fake_openai() as (upstream, received),
        mlflow_server(store_uri, tmp_path, env=ONLINE_ENV) as url,
    ):
        rest = _get_store(url)
        secret = rest.create_gateway_secret(
            "key", {"api_key": SECRET}, provider="openai", auth_config={"api_base": upstream}
        )
        definition = rest.create_gateway_model_definition(
            "judge-def", secret.secret_id, "openai", JUDGE_MODEL
        )
        rest.create_gateway_endpoint(
            "judge",
            [
                GatewayEndpointModelConfig(
                    model_definition_id=definition.model_definition_id,
                    linkage_type=GatewayModelLinkageType.PRIMARY,
                    weight=1.0,
                )
            ],
            usage_tracking=False,
        )
        previous = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(url)
        try:
            experiment_id = mlflow.set_experiment("online").experiment_id
            judge = make_judge(
                name="polite",
                instructions="Is {{ outputs }} polite? Answer yes or no.",
                model="gateway:/judge",
                feedback_value_type=str,
            )
            rest.register_scorer(experiment_id, "polite", json.dumps(judge.model_dump()))
            rest.upsert_online_scoring_config(experiment_id, "polite", 1.0)
            answer("what is mlflow?")
            trace_id = mlflow.get_last_active_trace_id()
            mlflow.flush_trace_async_logging()
            # the scheduler runs every minute; the job then starts its own subprocess
            deadline = time.monotonic() + 300
            feedback = []
            while time.monotonic() < deadline and not feedback:
                time.sleep(1)  # a poll is one get_trace; a 5 s pause cost 2.5 s on average
                trace = mlflow.get_trace(trace_id)
                feedback = [a for a in trace.info.assessments if a.name == "polite"]
        finally:
            mlflow.set_tracking_uri(previous)
    log = "".join(p.read_text(errors="replace") for p in tmp_path.glob("mlflow-server-*.log"))
    assert feedback, f"no online feedback in 5 minutes; server log tail:\n{log[-3000:]}"
    assert feedback[0].value == "yes" and feedback[0].rationale == "fake judge"
    judged = [r for r in received if r["body"]["model"] == JUDGE_MODEL]
    assert judged
    headers = {k.lower(): v for k, v in judged[0]["headers"].items()}
    assert headers["authorization"] == f"Bearer {SECRET}"
    assert "SECRETVALUE" not in log
