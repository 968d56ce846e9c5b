"""Assessments: create/get/update/delete with MLflow's overriding and validity rules."""

from __future__ import annotations

from mlflow.entities import AssessmentError, AssessmentSource, Expectation, Feedback
from mlflow.entities.assessment import ExpectationValue, FeedbackValue

from tests.differential.harness import attempt
from tests.differential_traces.builders import info, info_plain
from tests.differential_traces.registry import scenario

HUMAN = AssessmentSource("HUMAN", "alice@example.com")
JUDGE = AssessmentSource("LLM_JUDGE", "gpt")


def _trace(store) -> str:
    e = store.create_experiment("e")
    store.start_trace(info("tr-1", e))
    return e


def _fb(name="quality", value=True, **kw) -> Feedback:
    return Feedback(name=name, value=value, source=kw.pop("source", HUMAN), trace_id="tr-1", **kw)


def _ex(name="answer", value="42", **kw) -> Expectation:
    return Expectation(name=name, value=value, source=HUMAN, trace_id="tr-1", **kw)


def _plain(a):
    return a.to_dictionary()


@scenario()
def create_feedback_and_get(store):
    _trace(store)
    a = store.create_assessment(_fb(rationale="because", metadata={"m": "1"}, span_id="s1"))
    return {
        "created": _plain(a),
        "got": _plain(store.get_assessment("tr-1", a.assessment_id)),
        "on_trace": info_plain(store.get_trace_info("tr-1")),
    }


@scenario()
def create_expectation_and_get(store):
    _trace(store)
    a = store.create_assessment(_ex(value={"facts": ["a", "b"]}))
    return {"created": _plain(a), "got": _plain(store.get_assessment("tr-1", a.assessment_id))}


@scenario()
def create_feedback_with_error(store):
    _trace(store)
    a = store.create_assessment(
        Feedback(
            name="judge",
            error=AssessmentError(error_code="TIMEOUT", error_message="took too long"),
            source=JUDGE,
            trace_id="tr-1",
        )
    )
    return _plain(store.get_assessment("tr-1", a.assessment_id))


@scenario()
def create_assessment_overriding(store):
    _trace(store)
    first = store.create_assessment(_fb(value=False))
    second = store.create_assessment(_fb(value=True, overrides=first.assessment_id))
    return {
        "first": _plain(store.get_assessment("tr-1", first.assessment_id)),
        "second": _plain(second),
        "trace": info_plain(store.get_trace_info("tr-1")),
    }


@scenario()
def create_assessment_overriding_missing(store):
    _trace(store)
    return attempt(lambda: store.create_assessment(_fb(overrides="a-nope")))


@scenario()
def create_assessment_on_missing_trace(store):
    return attempt(
        lambda: store.create_assessment(
            Feedback(name="x", value=1, source=HUMAN, trace_id="tr-none")
        )
    )


@scenario()
def get_assessment_errors(store):
    _trace(store)
    return [
        attempt(lambda: store.get_assessment("tr-none", "a-1")),
        attempt(lambda: store.get_assessment("tr-1", "a-1")),
    ]


@scenario()
def update_feedback(store):
    _trace(store)
    a = store.create_assessment(_fb(value=0.2, rationale="r1", metadata={"a": "1"}))
    updated = store.update_assessment(
        "tr-1",
        a.assessment_id,
        name="renamed",
        feedback=FeedbackValue(value=0.9),
        rationale="r2",
        metadata={"b": "2"},
    )
    return {
        "updated": _plain(updated),
        "got": _plain(store.get_assessment("tr-1", a.assessment_id)),
    }


@scenario()
def update_feedback_keeps_unspecified_fields(store):
    _trace(store)
    a = store.create_assessment(_fb(value="yes", rationale="keep"))
    store.update_assessment("tr-1", a.assessment_id, metadata={"only": "meta"})
    return _plain(store.get_assessment("tr-1", a.assessment_id))


@scenario()
def update_expectation(store):
    _trace(store)
    a = store.create_assessment(_ex())
    store.update_assessment("tr-1", a.assessment_id, expectation=ExpectationValue(value="43"))
    return _plain(store.get_assessment("tr-1", a.assessment_id))


@scenario()
def update_assessment_errors(store):
    _trace(store)
    fb = store.create_assessment(_fb())
    ex = store.create_assessment(_ex())
    return [
        attempt(
            lambda: store.update_assessment(
                "tr-1",
                fb.assessment_id,
                feedback=FeedbackValue(value=1),
                expectation=ExpectationValue(value=1),
            )
        ),
        attempt(
            lambda: store.update_assessment(
                "tr-1", fb.assessment_id, expectation=ExpectationValue(value=1)
            )
        ),
        attempt(
            lambda: store.update_assessment("tr-1", ex.assessment_id, feedback=FeedbackValue(1))
        ),
        attempt(lambda: store.update_assessment("tr-1", "a-missing", name="x")),
        attempt(lambda: store.update_assessment("tr-none", "a-missing", name="x")),
    ]


@scenario()
def delete_assessment(store):
    _trace(store)
    a = store.create_assessment(_fb())
    b = store.create_assessment(_ex())
    store.delete_assessment("tr-1", a.assessment_id)
    return {
        "deleted": _plain(a),
        "gone": attempt(lambda: store.get_assessment("tr-1", a.assessment_id)),
        "kept": _plain(store.get_assessment("tr-1", b.assessment_id)),
        "again": attempt(lambda: store.delete_assessment("tr-1", a.assessment_id)),
        "missing_trace": attempt(lambda: store.delete_assessment("tr-none", "a-1")),
    }


@scenario()
def delete_overriding_assessment_restores_original(store):
    _trace(store)
    first = store.create_assessment(_fb(value=1))
    second = store.create_assessment(_fb(value=2, overrides=first.assessment_id))
    store.delete_assessment("tr-1", second.assessment_id)
    return info_plain(store.get_trace_info("tr-1"))


@scenario()
def assessments_order_on_trace(store):
    _trace(store)
    for i in range(4):
        store.create_assessment(_fb(name=f"f{i}", value=i))
    return [a.name for a in store.get_trace_info("tr-1").assessments]
