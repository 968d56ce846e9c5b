"""Traces end to end through a real `mlflow server` on DynamoDB Local: the MLflow client's
``@mlflow.trace`` export, ``mlflow.search_traces``/``mlflow.get_trace``, assessments over
REST, and an OTLP/HTTP export from the OpenTelemetry SDK to ``/v1/traces``."""

from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import SpanType
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

pytestmark = pytest.mark.slow


@pytest.fixture
def server(module_server):
    """The module's server (its tests each use experiments of their own), as this test's
    tracking URI."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(module_server)
    try:
        yield module_server
    finally:
        mlflow.set_tracking_uri(previous)


@mlflow.trace(span_type=SpanType.RETRIEVER)
def retrieve(query: str) -> list[str]:
    return [f"doc about {query}", "another doc"]


@mlflow.trace(span_type=SpanType.LLM)
def generate(query: str, docs: list[str]) -> str:
    mlflow.get_current_active_span().set_attribute("model", "tiny-llm")
    return f"answer to {query} from {len(docs)} docs"


@mlflow.trace(name="rag")
def rag(query: str) -> str:
    mlflow.update_current_trace(tags={"team": "search"})
    return generate(query, retrieve(query))


def test_decorated_functions_are_stored_and_searchable(server):
    experiment_id = mlflow.set_experiment("traces-e2e").experiment_id
    assert rag("dynamodb") == "answer to dynamodb from 2 docs"
    mlflow.flush_trace_async_logging()

    traces = mlflow.search_traces(locations=[experiment_id], return_type="list")
    assert len(traces) == 1
    trace_id = traces[0].info.trace_id

    trace = mlflow.get_trace(trace_id)
    assert trace.info.state.value == "OK"
    assert trace.info.tags["team"] == "search"
    assert trace.info.tags["mlflow.traceName"] == "rag"
    assert trace.info.request_preview and "dynamodb" in trace.info.request_preview
    by_name = {s.name: s for s in trace.data.spans}
    assert set(by_name) == {"rag", "retrieve", "generate"}
    assert by_name["rag"].parent_id is None
    assert by_name["retrieve"].parent_id == by_name["rag"].span_id
    assert by_name["generate"].parent_id == by_name["rag"].span_id
    assert by_name["rag"].inputs == {"query": "dynamodb"}
    assert by_name["rag"].outputs == "answer to dynamodb from 2 docs"
    assert by_name["retrieve"].outputs == ["doc about dynamodb", "another doc"]
    assert by_name["generate"].span_type == SpanType.LLM
    assert by_name["generate"].attributes["model"] == "tiny-llm"

    # Filters and tags over REST.
    client = MlflowClient()
    found = client.search_traces(
        locations=[experiment_id], filter_string="span.type = 'RETRIEVER' AND tags.team = 'search'"
    )
    assert [t.info.trace_id for t in found] == [trace_id]
    client.set_trace_tag(trace_id, "reviewed", "yes")
    assert client.get_trace(trace_id).info.tags["reviewed"] == "yes"

    # Feedback is shown on the trace.
    mlflow.log_feedback(trace_id=trace_id, name="helpful", value=True, rationale="good docs")
    assessments = mlflow.get_trace(trace_id).info.assessments
    assert [(a.name, a.value, a.rationale) for a in assessments] == [("helpful", True, "good docs")]


def test_otlp_http_export_is_stored(server):
    experiment_id = MlflowClient().create_experiment("otlp")
    provider = TracerProvider(resource=Resource.create({"service.name": "otel-app"}))
    exporter = OTLPSpanExporter(
        endpoint=f"{server}/v1/traces", headers={"x-mlflow-experiment-id": experiment_id}
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("otel-root") as root:
        root.set_attribute("user.question", "why")
        with tracer.start_as_current_span("otel-child") as child:
            child.set_attribute("rows", 3)
    provider.force_flush()
    provider.shutdown()

    trace_id = f"tr-{root.get_span_context().trace_id:032x}"
    trace = MlflowClient().get_trace(trace_id)
    assert trace.info.experiment_id == experiment_id
    assert trace.info.tags["service.name"] == "otel-app"
    by_name = {s.name: s for s in trace.data.spans}
    assert set(by_name) == {"otel-root", "otel-child"}
    assert by_name["otel-root"].attributes["user.question"] == "why"
    assert by_name["otel-child"].attributes["rows"] == 3
    assert by_name["otel-child"].parent_id == by_name["otel-root"].span_id
    found = mlflow.search_traces(locations=[experiment_id], return_type="list")
    assert [t.info.trace_id for t in found] == [trace_id]


def test_otlp_export_of_5000_spans_and_a_3mb_attribute_round_trips(server):
    import uuid

    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    experiment_id = MlflowClient().create_experiment("otlp-huge")
    provider = TracerProvider(resource=Resource.create({"service.name": "huge"}))
    # The SDK sends the spans in batches of 512: the trace arrives over several calls. Its
    # default 10 s per request lost a whole batch on a loaded 2-core machine (4,488 of 5,000
    # spans arrived): the server was slow, not wrong, so the client waits longer.
    exporter = OTLPSpanExporter(
        endpoint=f"{server}/v1/traces",
        headers={"x-mlflow-experiment-id": experiment_id},
        timeout=120,
    )
    provider.add_span_processor(
        BatchSpanProcessor(exporter, max_queue_size=10_000, max_export_batch_size=512)
    )
    tracer = provider.get_tracer("test")
    blob = "".join(uuid.uuid4().hex for _ in range(100_000))  # 3.2 MB
    with tracer.start_as_current_span("huge-root") as root:
        root.set_attribute("payload", blob)
        for i in range(4999):
            with tracer.start_as_current_span(f"step-{i}") as child:
                child.set_attribute("i", i)
    assert provider.force_flush(timeout_millis=300_000)
    provider.shutdown()

    trace = MlflowClient().get_trace(f"tr-{root.get_span_context().trace_id:032x}")
    assert len(trace.data.spans) == 5000
    by_name = {s.name: s for s in trace.data.spans}
    assert by_name["huge-root"].attributes["payload"] == blob
    assert {by_name[f"step-{i}"].attributes["i"] for i in range(4999)} == set(range(4999))
    assert all(by_name[f"step-{i}"].parent_id == by_name["huge-root"].span_id for i in (0, 4998))
