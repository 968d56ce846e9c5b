"""The annotation span processor, on a real OTel SDK TracerProvider."""

from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from mlflow_dynamodbstore.xray import annotations as ann
from mlflow_dynamodbstore.xray.processor import XRayAnnotationProcessor


@pytest.fixture
def pipeline():
    exported, untouched = InMemorySpanExporter(), InMemorySpanExporter()
    provider = TracerProvider()
    processor = XRayAnnotationProcessor(
        SimpleSpanProcessor(exported), mapping={"customer.tier": "customer.tier"}
    )
    provider.add_span_processor(processor)
    provider.add_span_processor(SimpleSpanProcessor(untouched))  # e.g. MLflow's exporter
    yield provider.get_tracer("t"), processor, exported, untouched
    provider.shutdown()


def test_facts_become_x_ray_legal_attributes(pipeline):
    tracer, processor, exported, untouched = pipeline
    with tracer.start_as_current_span("agent") as root:
        root.set_attribute("mlflow.spanType", json.dumps("AGENT"))
        with tracer.start_as_current_span("chat") as chat:
            chat.set_attribute("mlflow.spanType", json.dumps("CHAT_MODEL"))
            chat.set_attribute("gen_ai.request.model", "gpt-x")
            chat.set_attribute("mlflow.llm.model", json.dumps("gpt-x-2025"))
            chat.set_attribute("customer.tier", "gold")
            chat.set_status(Status(StatusCode.ERROR, "boom"))
    spans = {s.name: s for s in exported.get_finished_spans()}
    chat = spans["chat"].attributes
    assert chat[ann.SPAN_NAME] == "chat"
    assert chat[ann.SPAN_TYPE] == "CHAT_MODEL"
    assert chat[ann.SPAN_STATUS] == "ERROR"
    assert chat[ann.CHAT_MODEL] == "gpt-x"
    assert chat[ann.MODEL_NAME] == "gpt-x-2025"
    assert chat["customer_tier"] == "gold"
    assert chat["mlflow.spanType"] == json.dumps("CHAT_MODEL")  # the original stays
    agent = spans["agent"].attributes
    assert (agent[ann.SPAN_TYPE], agent[ann.SPAN_STATUS]) == ("AGENT", "UNSET")
    assert ann.CHAT_MODEL not in agent
    # Same ids, times and parents as the original; the other processor saw no change.
    for span in untouched.get_finished_spans():
        copy = spans[span.name]
        assert (copy.context, copy.parent, copy.start_time, copy.end_time) == (
            span.context,
            span.parent,
            span.start_time,
            span.end_time,
        )
        assert not any(k.startswith("mlflow_") for k in span.attributes)
    assert processor.indexed_attributes() == [*ann.FACT_ANNOTATIONS, "customer_tier"]


def test_every_annotation_key_is_x_ray_legal(pipeline):
    tracer, _, exported, _ = pipeline
    with tracer.start_as_current_span("x" * 2000):
        pass
    (span,) = exported.get_finished_spans()
    for key, value in span.attributes.items():
        if key.startswith("mlflow_"):
            assert key == ann.annotation_key(key)
            assert not isinstance(value, str) or len(value) <= ann.MAX_VALUE_LENGTH


def test_annotation_names_and_values():
    assert ann.annotation_key("gen_ai.request.model") == "gen_ai_request_model"
    assert ann.annotation_key("a-b c/d") == "a_b_c_d"
    assert len(ann.annotation_key("k" * 900)) == ann.MAX_KEY_LENGTH
    with pytest.raises(ValueError):
        ann.annotation_key("")
    assert ann.escape_value('say "hi" \\ bye') == '"say \\"hi\\" \\\\ bye"'
